"""Rich outputs during a cell: IPython's display() and clear_output() builtins, and inline figures."""

import builtins
import os
import sys

from .rich import mime_bundle

# matplotlib loads this module as its backend (see inline.py) unless the user chose another one.
INLINE_BACKEND = "module://pyrepl3_worker.inline"

_capture = None  # the session's OutputCapture, set by install()


def install(capture):
    """Make display() and clear_output() builtins that send through this session's capture."""
    global _capture
    _capture = capture
    builtins.display = display
    builtins.clear_output = clear_output


def select_inline_backend():
    # Read by matplotlib when it is imported, which may happen in a template's warmup.
    os.environ.setdefault("MPLBACKEND", INLINE_BACKEND)


def display(*objs, raw=False, metadata=None, display_id=None, update=False):
    """Show objects as outputs of the running cell, like IPython.display.display.

    raw=True: each object is already a mime bundle ({"text/html": ...}). display_id names the
    output so that a later display(..., display_id=same, update=True) replaces it.
    """
    for obj in objs:
        data = dict(obj) if raw else mime_bundle(obj, repr(obj))
        output = {"type": "display", "data": data, "metadata": dict(metadata or {})}
        if display_id is not None:
            output["displayId"] = str(display_id)
            output["update"] = bool(update)
        publish(output)


def clear_output(wait=False):
    """Clear the cell's outputs; wait=True: only when the next output arrives."""
    publish({"type": "clear", "wait": bool(wait)})


def publish(output):
    for stream in (sys.stdout, sys.stderr):  # what was printed before comes first
        try:
            stream.flush()
        except Exception:  # closed or replaced by user code
            pass
    if _capture is not None:
        _capture.emit_display(output)


def flush_figures():
    """Show the figures a cell left open and close them, as Jupyter's inline backend does."""
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is None or pyplot.get_backend() != INLINE_BACKEND:
        return
    from .inline import show

    show()
