"""Drives ipykernel kernels with jupyter_client, for the Jupyter anchors.

One JSON request per line on stdin, one JSON reply per line on stdout:
  {"op": "start"}              -> {"id", "startMs", "pid"}  a kernel, usable (wait_for_ready)
  {"op": "exec", "id", "code"} -> {"ms", "bytes"}           execute_request until the reply and
                                                             the iopub 'idle' (all output delivered)
  {"op": "stop", "id"}         -> {}
  {"op": "versions"}           -> {"ipykernel", "jupyter_client", "python"}
The kernel is the 'python3' kernelspec of this interpreter; ZMQ over 127.0.0.1 only.
Times are taken here, in the client, so they include no Node overhead.
"""

import json
import sys
import time

import ipykernel
import jupyter_client
from jupyter_client.manager import KernelManager

kernels = {}


def start():
    t0 = time.perf_counter()
    km = KernelManager(kernel_name="python3", transport="tcp", ip="127.0.0.1")
    km.start_kernel()
    kc = km.client()
    kc.start_channels()
    kc.wait_for_ready(timeout=60)
    ms = (time.perf_counter() - t0) * 1000
    kid = str(len(kernels) + 1) + "-" + str(id(km))
    kernels[kid] = (km, kc)
    provisioner = getattr(km, "provisioner", None)
    process = getattr(provisioner, "process", None) or getattr(km, "kernel", None)
    return {"id": kid, "startMs": ms, "pid": getattr(process, "pid", None)}


def execute(kid, code):
    _, kc = kernels[kid]
    t0 = time.perf_counter()
    msg_id = kc.execute(code, store_history=False)
    nbytes = 0
    while True:
        msg = kc.get_iopub_msg(timeout=120)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        kind = msg["msg_type"]
        if kind == "stream":
            nbytes += len(msg["content"]["text"].encode())
        elif kind == "status" and msg["content"]["execution_state"] == "idle":
            break
    while True:
        reply = kc.get_shell_msg(timeout=120)
        if reply["parent_header"].get("msg_id") == msg_id:
            break
    return {"ms": (time.perf_counter() - t0) * 1000, "bytes": nbytes, "status": reply["content"]["status"]}


def stop(kid):
    km, kc = kernels.pop(kid)
    kc.stop_channels()
    km.shutdown_kernel(now=True)
    return {}


def main():
    for line in sys.stdin:
        request = json.loads(line)
        op = request["op"]
        try:
            if op == "start":
                reply = start()
            elif op == "exec":
                reply = execute(request["id"], request["code"])
            elif op == "stop":
                reply = stop(request["id"])
            elif op == "versions":
                reply = {
                    "ipykernel": ipykernel.__version__,
                    "jupyter_client": jupyter_client.__version__,
                    "python": sys.version.split()[0],
                }
            else:
                reply = {"error": "unknown op " + op}
        except Exception as exc:  # reported to the host, which says so in the row
            reply = {"error": repr(exc)}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()
    for kid in list(kernels):
        stop(kid)


main()
