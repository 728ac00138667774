"""Runs the PyREPL3 worker under cProfile (main thread), and dumps the stats when it exits.

  python -u worker_cprofile.py <out.prof> <folder holding pyrepl3_worker> '<config-json>'
The worker leaves with os._exit (no atexit), so os._exit is wrapped to dump first.
"""

import cProfile
import os
import sys

out, worker_dir = sys.argv[1], sys.argv[2]
profiler = cProfile.Profile()
_real_exit = os._exit


def _exit(code):
    profiler.disable()
    profiler.dump_stats(out)
    _real_exit(code)


os._exit = _exit
sys.argv = ["-c"] + sys.argv[3:]
sys.path.insert(0, worker_dir)
import pyrepl3_worker  # noqa: E402

profiler.enable()
pyrepl3_worker.main()
