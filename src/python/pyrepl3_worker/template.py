"""Template mode: a warmed process that forks sessions.

``--template '<json>'`` runs the pool's warmupCode once, then forks a child each time the host asks
(the host's template machine keeps one spare on order or in stock, ahead of demand). The child
connects back, enters its sandbox if there is one, and becomes a session when the host sends it a
config. The template reports its children's exits, since the host is not their parent.
"""

import json
import linecache
import os
import select
import signal
import sys
import threading

from .cells import compile_cell, error_info, main_namespace, move_package
from .channel import CHANNEL_FD, READ_CHUNK, Channel, take_requests
from .sandbox import confine, enter
from .session import prepare_session
from .system import set_parent_death_signal, set_process_name


class Template:
    def __init__(self, channel, namespace):
        # Imported once, here: no forked child pays for it, and exec'd sessions never need it.
        import socket
        self._socket = socket
        self._channel = channel
        self._namespace = namespace
        self._wake_read, self._wake_write = os.pipe()

    def serve(self):
        for fd in (self._wake_read, self._wake_write):
            os.set_blocking(fd, False)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.set_wakeup_fd(self._wake_write)
        signal.signal(signal.SIGCHLD, lambda signum, frame: None)
        pending = bytearray()
        while True:
            readable, _, _ = select.select([CHANNEL_FD, self._wake_read], [], [])
            if self._wake_read in readable:
                self._drain_wakeups()
                self._report_exits()
            if CHANNEL_FD in readable:
                chunk = os.read(CHANNEL_FD, READ_CHUNK)
                if not chunk:  # the host is gone; the children notice on their own sockets
                    os._exit(0)
                for request in take_requests(pending, chunk):
                    self._handle(request)

    def _handle(self, request):
        if request.get("op") == "fork":
            self._fork(request)
        elif request.get("op") == "exit":
            os._exit(0)

    def _fork(self, request):
        pid = os.fork()
        if pid == 0:
            try:
                self._become_session(request)
            except BaseException:
                import traceback

                traceback.print_exc()
            finally:
                os._exit(1)
        self._channel.send({"op": "forked", "id": request.get("id"), "pid": pid})

    def _become_session(self, request):
        os.setsid()  # its own process group: signals to it reach its children, not the template
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        os.close(self._wake_read)
        os.close(self._wake_write)
        connection = self._socket.socket(self._socket.AF_UNIX, self._socket.SOCK_STREAM)
        connection.connect(request["socketPath"])
        os.dup2(connection.fileno(), CHANNEL_FD)  # replaces the template's channel
        connection.close()
        plan = request.get("sandbox")
        if plan:  # connected first: the socket's path is not in the sandbox
            enter(plan)
            move_package(plan["workerDir"])
            confine(plan)
        hello = {"op": "hello", "token": request.get("token")}
        os.write(CHANNEL_FD, (json.dumps(hello) + "\n").encode("utf-8"))
        # A spare: forked ahead of demand, it gets ready all it can, then waits for a session's config.
        set_process_name(b"pyrepl3-spare")
        session = prepare_session(None, self._namespace)
        config = session.receive_config()
        set_process_name(b"pyrepl3-session")
        _reseed_generators()
        session.start(config)

    def _drain_wakeups(self):
        try:
            while os.read(self._wake_read, 512):
                pass
        except BlockingIOError:
            pass

    def _report_exits(self):
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if os.WIFSIGNALED(status):
                exit_code, name = None, signal.Signals(os.WTERMSIG(status)).name
            else:
                exit_code, name = os.WEXITSTATUS(status), None
            self._channel.send({"op": "childExited", "pid": pid,
                                "exitCode": exit_code, "signal": name})


def _reseed_generators():
    """A forked child must not share its random streams with its siblings.

    The random module reseeds itself after fork (os.register_at_fork); NumPy's
    legacy global generator does not.
    """
    numpy_random = sys.modules.get("numpy.random")
    if numpy_random is not None:
        try:
            numpy_random.seed()
        except Exception:
            pass


def _run_warmup(namespace, code):
    """Run warmupCode in the template; return the error info, or None on success."""
    if not code:
        return None
    try:
        body, last = compile_cell(code, "<warmup>")
        linecache.cache["<warmup>"] = (len(code), None, code.splitlines(True), "<warmup>")
        exec(body, namespace)
        if last is not None:
            eval(last, namespace)
    except BaseException as exc:
        return error_info(exc, exc.__traceback__)
    return None


def serve_template(config):
    os.fstat(CHANNEL_FD)
    os.set_inheritable(CHANNEL_FD, False)
    os.set_blocking(CHANNEL_FD, True)
    set_parent_death_signal()
    set_process_name(b"pyrepl3-template")
    channel = Channel(CHANNEL_FD)
    channel.send({"op": "started", "pid": os.getpid()})  # warmup may take long: say we are alive
    namespace = main_namespace()
    error = _run_warmup(namespace, config.get("warmupCode"))
    if error is not None:
        channel.send({"op": "failed", "error": error})
        os._exit(1)
    # A thread does not survive fork(): a template that has more than one cannot fork safely.
    threads = threading.active_count()
    channel.send({"op": "ready", "pid": os.getpid(), "forkSafe": threads == 1, "threads": threads})
    Template(channel, namespace).serve()
