"""Runs the PyREPL3 worker under cProfile (main thread), and dumps the stats when it exits.

  python -u worker_cprofile.py <out.prof> <worker.py> '<config-json>'
The worker leaves with os._exit (no atexit), so os._exit is wrapped to dump first.
"""

import cProfile
import os
import runpy
import sys

out, worker = sys.argv[1], sys.argv[2]
profiler = cProfile.Profile()
_real_exit = os._exit


def _exit(code):
    profiler.disable()
    profiler.dump_stats(out)
    _real_exit(code)


os._exit = _exit
sys.argv = [worker] + sys.argv[3:]
profiler.enable()
runpy.run_path(worker, run_name="__main__")
