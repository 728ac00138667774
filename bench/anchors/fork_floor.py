"""The fork floor: what a bare os.fork() of a warmed Python process costs, no framework.

    python -u fork_floor.py [--import a,b,c] [--warmup CODE]

imports the modules (and runs the warmup code, e.g. "import time; time.sleep(0.5)"), prints one
line "ready", then reads commands on stdin, one per line:
  - "fork": one sample. The process forks; the child waits for a ping byte on a pipe, answers it
    on a second pipe and exits; the parent times fork() -> answer received, then reaps the child.
    The reply is one JSON line {"ms": fork to answer, "reapMs": fork to reaped,
    "childMs": fork to the child's first instruction (its clock is the same monotonic clock)}.
  - "fork N": N samples in a row, the reply is a JSON list of such objects.
EOF on stdin ends it. Run it with -u, as the PyREPL3 worker runs.
"""

import json
import os
import sys
import time


def _setup(argv):
    args = iter(argv[1:])
    for arg in args:
        if arg == "--import":
            for name in next(args).split(","):
                if name:
                    __import__(name)
        elif arg == "--warmup":
            exec(next(args), {"__name__": "__main__"})


def sample():
    ping_read, ping_write = os.pipe()
    pong_read, pong_write = os.pipe()
    clock = time.perf_counter
    t0 = clock()
    pid = os.fork()
    if pid == 0:
        started = clock()
        try:
            os.close(ping_write)
            os.close(pong_read)
            os.read(ping_read, 1)
            os.write(pong_write, repr(started).encode())
        finally:
            os._exit(0)
    os.close(ping_read)
    os.close(pong_write)
    os.write(ping_write, b"p")
    answer = os.read(pong_read, 64)
    t1 = clock()
    os.waitpid(pid, 0)
    t2 = clock()
    os.close(ping_write)
    os.close(pong_read)
    return {"ms": (t1 - t0) * 1e3, "reapMs": (t2 - t0) * 1e3, "childMs": (float(answer) - t0) * 1e3}


def main():
    _setup(sys.argv)
    write = sys.stdout.write
    write("ready\n")
    for line in sys.stdin:
        words = line.split()
        if not words or words[0] != "fork":
            continue
        if len(words) > 1:
            write(json.dumps([sample() for _ in range(int(words[1]))]) + "\n")
        else:
            write(json.dumps(sample()) + "\n")


main()
