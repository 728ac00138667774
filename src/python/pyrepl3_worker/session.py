"""A session: the loop that serves the host's requests, and the setup it needs."""

import io
import linecache
import os
import signal
import sys
import time

from .capture import OutputCapture
from .cells import compile_cell, failure, is_worker_file, main_namespace
from .channel import CHANNEL_FD, Channel
from . import display
from .files import Files
from .rich import mime_bundle
from .system import apply_limits, limit_value


class Session:
    """Runs cells in one shared namespace, like a notebook kernel."""

    def __init__(self, channel, capture, namespace=None):
        self._channel = channel
        self._capture = capture
        # A forked session inherits the template's warmed namespace.
        self._namespace = main_namespace() if namespace is None else namespace
        self._execution_count = 0
        self._cell_number = 0
        self._interruptible = False
        self._pid = os.getpid()
        self._stdin = sys.stdin
        self._files = None

    def start(self, config):
        """Apply the session's config (working directory, limits), say ready, and serve."""
        if config.get("cwd"):
            os.chdir(config["cwd"])
        # Files in and out stay inside the folder the session started in, wherever its code goes.
        self._files = Files(os.getcwd())
        limits = config.get("limits") or {}
        self._capture.max_bytes = limit_value(limits, "maxOutputBytes")
        # Limits come after the pipes and the reader thread exist: low
        # RLIMIT_AS/NPROC/NOFILE values would otherwise make that setup fail.
        apply_limits(limits)
        version = "%d.%d.%d" % sys.version_info[:3]
        self._channel.send({"op": "ready", "pid": os.getpid(), "python": version,
                            "executable": sys.executable})
        self.serve()

    def install_interrupt_handler(self):
        signal.signal(signal.SIGINT, self._on_sigint)

    def receive_config(self):
        """A spare's one request before it serves: its session's config. End of file: let go.

        The host sends nothing more until this session says ready, so no request is left behind
        in the reader this abandons.
        """
        for request in self._channel.messages():
            return request.get("config") or {}
        os._exit(0)

    def serve(self):
        for request in self._channel.messages():
            op = request.get("op")
            if op == "exec":
                self.execute(request)
            elif op in ("writeFile", "readFile"):
                self._channel.send(self._files.handle(request))
            elif op == "ping":
                self._channel.send({"op": "pong", "id": request.get("id")})
            elif op == "exit":
                break
        # os._exit: neither user threads nor atexit hooks may delay the exit.
        os._exit(0)

    def execute(self, request):
        self._cell_number += 1
        if not request.get("silent"):
            self._execution_count += 1
        exec_id = request.get("id")
        self._capture.begin(exec_id)
        started = time.perf_counter()
        outcome = self._run_cell(request.get("code", ""), "<cell-%d>" % self._cell_number,
                                 request.get("silent"))
        duration_ms = (time.perf_counter() - started) * 1000
        if os.getpid() != self._pid:  # a fork() in user code must not use the channel
            os._exit(0)
        self._repair_process_state()
        result = {"op": "result", "id": exec_id}
        result.update(outcome)
        result.update(executionCount=self._execution_count, truncated=False,
                      durationMs=duration_ms)
        self._capture.finish(result)

    def _run_cell(self, code, filename, silent):
        try:
            body, last = compile_cell(code, filename)
        except Exception as exc:  # SyntaxError, or ValueError for NUL bytes, etc.
            return failure(exc, None)
        linecache.cache[filename] = (len(code), None, code.splitlines(True), filename)
        try:
            value, data = self._evaluate(body, last, silent)
        except BaseException as exc:  # SystemExit and KeyboardInterrupt are data too
            return failure(exc, exc.__traceback__)
        finally:
            self._show_figures()
        return {"status": "ok", "value": value, "data": data, "error": None}

    def _evaluate(self, body, last, silent):
        """Run a compiled cell; return (repr, mime bundle) of its value.

        A silent cell (a warmup, a tool's completion request) leaves `_` alone.
        """
        namespace = self._namespace
        self._interruptible = True
        try:
            exec(body, namespace)
            value = eval(last, namespace) if last is not None else None
            if value is None:
                return None, None
            if not silent:
                namespace["_"] = value
            text = repr(value)  # user code too: may raise, loop or be interrupted
            return text, mime_bundle(value, text)
        finally:
            self._interruptible = False

    def _show_figures(self):
        try:
            display.flush_figures()
        except Exception as exc:  # a figure that cannot render must not lose the cell's result
            print("pyrepl3: a figure could not be shown: %r" % exc, file=sys.stderr)

    def _on_sigint(self, signum, frame):
        # Only user code is interrupted. Between executions, and in this file's
        # frames just before or after user code, the signal is dropped, so it
        # can neither kill the worker nor break a result's bookkeeping.
        if (self._interruptible and frame is not None
                and not is_worker_file(frame.f_code.co_filename)):
            raise KeyboardInterrupt

    def _repair_process_state(self):
        """Undo changes by user code that would break later cells or the worker."""
        self._capture.restore()
        if sys.stdin is self._stdin and self._stdin.closed:  # exit() closes stdin
            self._stdin = io.TextIOWrapper(io.FileIO(0, "r", closefd=False), encoding="utf-8")
            sys.stdin = self._stdin


def prepare_session(parent_pid, namespace=None):
    """A session's channel, output capture and interrupt handling: all that needs no config.

    A spare sets these up before it waits for its config, so they cost it nothing once it is used.
    """
    os.fstat(CHANNEL_FD)  # without the channel, fail now with a diagnostic on stderr
    os.set_inheritable(CHANNEL_FD, False)
    os.set_blocking(CHANNEL_FD, True)  # reads and whole-frame writes below rely on it
    channel = Channel(CHANNEL_FD)
    capture = OutputCapture(channel)
    capture.start(parent_pid)
    session = Session(channel, capture, namespace)
    display.install(capture)
    session.install_interrupt_handler()
    return session
