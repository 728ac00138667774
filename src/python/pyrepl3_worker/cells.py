"""Running a cell like a REPL: one shared namespace, a trailing expression's value, clean tracebacks."""

import ast
import builtins
import os
import sys
import types

# Frames of this package are stripped from user tracebacks and never interrupted. A forked
# sandboxed session has it in two places: where the template loaded it, and where it can see it now.
_PACKAGE_DIRS = (os.path.dirname(os.path.abspath(__file__)) + os.sep,)


def is_worker_file(filename):
    return filename.startswith(_PACKAGE_DIRS)


def move_package(folder):
    """The package's modules are loaded; any it imports later come from `folder`/pyrepl3_worker."""
    global _PACKAGE_DIRS
    package = os.path.join(folder, __package__)
    sys.modules[__package__].__path__[:] = [package]
    _PACKAGE_DIRS += (package + os.sep,)


def main_namespace():
    """Return the shared namespace: the dict of a fresh __main__ module.

    Registering the module as sys.modules['__main__'] lets pickle and
    multiprocessing find functions and classes defined in cells.
    """
    module = types.ModuleType("__main__")
    module.__builtins__ = builtins
    sys.modules["__main__"] = module
    return module.__dict__


_NOTHING = compile("", "<empty>", "exec")


def compile_cell(code, filename):
    """Compile a cell REPL-style: a trailing expression is compiled for eval.

    Returns (body, last): code objects for the statements and for the trailing
    expression (or None).
    """
    if "\n" not in code:
        # A one-line expression (the commonest cell) needs one compile, no syntax tree.
        try:
            return _NOTHING, compile(code, filename, "eval")
        except SyntaxError:
            pass  # a statement: the general path below reports real syntax errors
    tree = ast.parse(code, filename)
    last = None
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        last = compile(ast.Expression(tree.body.pop().value), filename, "eval")
    body = compile(tree, filename, "exec") if tree.body else _NOTHING
    return body, last


def failure(exc, tb):
    status = "interrupted" if isinstance(exc, KeyboardInterrupt) else "error"
    return {"status": status, "value": None, "data": None, "error": error_info(exc, tb)}


def error_info(exc, tb):
    name = type(exc).__name__
    try:
        message = str(exc)
    except Exception:
        message = "<exception str() failed>"
    try:
        text = _format_exception(exc, tb)
    except Exception:  # e.g. MemoryError again while formatting
        text = "%s: %s\n" % (name, message)
    return {"name": name, "message": message, "traceback": text}


def _format_exception(exc, tb):
    """Format like Python does, minus this file's frames.

    Those are the worker's own callers at the top and the SIGINT handler at
    the bottom, in the exception and in the ones chained to it.
    """
    import traceback  # only failing cells need it: every session start would pay ~2 ms for it

    report = traceback.TracebackException(type(exc), exc, tb)
    pending = [report]
    while pending:  # TracebackException has already cut cycles in the chain
        current = pending.pop()
        current.stack = traceback.StackSummary.from_list(
            [frame for frame in current.stack if not is_worker_file(frame.filename)])
        pending.extend(link for link in (current.__cause__, current.__context__) if link)
    return "".join(report.format())
