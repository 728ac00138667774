"""PyREPL3 worker: one long-lived Python session driven by the Node host.

Started as ``python3 -u -c '<its folder on sys.path>; import pyrepl3_worker; pyrepl3_worker.main()' '<config-json>'``
(src/python/worker-path.ts), or with ``--template '<json>'`` for fork mode, with fd 0 = /dev/null,
fd 2 = startup diagnostics and fd 3 = the protocol socket. The protocol is
newline-delimited JSON on fd 3:

  host -> worker   {"op": "exec", "id", "code", "silent"?} | {"op": "ping", "id"} | {"op": "exit"} (unused: the host kills)
                   | {"op": "writeFile" | "readFile", ...} (files.py)
  worker -> host   {"op": "ready"} once, then "output", "display", "result", "pong" and "file" frames

Everything the session prints, at any level (print, os.write, child
processes, C extensions), goes through two pipes that replace fds 1 and 2 and
is forwarded as "output" frames; all of an execution's output is sent before
its "result" frame.

Importing the package only defines things; ``main()`` does the setup, so a
template process (template.py) can import it and fork sessions from it.

Modules: channel (framing on fd 3), capture (fds 1 and 2), cells (running code
REPL-style), rich (mime bundles), display (display(), clear_output(), figures),
inline (the matplotlib backend), session (the request loop), files (files in
and out), introspect (completion, inspection), system (limits, death with the
host), template (fork mode), sandbox, seccomp and landlock (entering a
session's sandbox).
"""

import json
import os
import sys

from .display import select_inline_backend
from .session import prepare_session
from .system import set_parent_death_signal
from .template import serve_template


def main(argv=None):
    argv = sys.argv if argv is None else argv
    select_inline_backend()
    if len(argv) > 2 and argv[1] == "--template":
        serve_template(json.loads(argv[2]))
        return
    config = json.loads(argv[1]) if len(argv) > 1 else {}
    if config.get("sandbox"):  # bubblewrap built it; the worker gives up root before any thread starts
        from .sandbox import confine
        confine(config["sandbox"])
    parent_pid = os.getppid()
    set_parent_death_signal()
    prepare_session(parent_pid).start(config)
