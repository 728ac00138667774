"""PyREPL3 worker: one long-lived Python session driven by the Node host.

Launched as ``python3 -u worker.py '<config-json>'`` with fd 0 = /dev/null,
fd 2 = startup diagnostics and fd 3 = the protocol socket. The protocol is
newline-delimited JSON on fd 3:

  host -> worker   {"op": "exec", "id", "code", "silent"?} | {"op": "ping", "id"} | {"op": "exit"}
  worker -> host   {"op": "ready"} once, then "output", "result" and "pong" frames

Everything the session prints, at any level (print, os.write, child
processes, C extensions), goes through two pipes that replace fds 1 and 2 and
is forwarded as "output" frames; all of an execution's output is sent before
its "result" frame.

This module only defines things at import time; ``main()`` does the setup,
so a template process can import it and fork sessions from it later.
"""

import ast
import builtins
import codecs
import io
import json
import linecache
import os
import select
import signal
import sys
import _thread
import threading
import time
import types

try:
    import resource
except ImportError:  # not available on every platform; limits are then skipped
    resource = None

CHANNEL_FD = 3
READ_CHUNK = 64 * 1024
# Once user code has returned, its unsent output is whatever sits in the pipe,
# which never holds more than the pipe capacity (64 KiB by default, 1 MiB max
# for unprivileged users). Draining more than that would only chase a
# background writer and could postpone the result forever.
DRAIN_LIMIT = 1024 * 1024
WATCHDOG_INTERVAL_MS = 1000
# After a partial read the reader naps this long so that small writes coalesce
# into fewer frames (and fewer GIL hand-offs with a busy main thread).
COALESCE_SECONDS = 0.001
PR_SET_PDEATHSIG = 1
PR_SET_NAME = 15
# Built once: json.dumps(ensure_ascii=False) would build an encoder per frame.
_ENCODER = json.JSONEncoder(ensure_ascii=False)

# Frames of this file are stripped from user tracebacks and never interrupted.
_WORKER_FILENAME = (lambda: None).__code__.co_filename

_RLIMITS = (
    ("memoryBytes", "RLIMIT_AS"),
    ("cpuSeconds", "RLIMIT_CPU"),
    ("maxProcesses", "RLIMIT_NPROC"),
    ("maxOpenFiles", "RLIMIT_NOFILE"),
)

# Jupyter-style rich representations, in addition to _repr_mimebundle_.
_RICH_REPRS = (
    ("_repr_html_", "text/html"),
    ("_repr_markdown_", "text/markdown"),
    ("_repr_latex_", "text/latex"),
    ("_repr_json_", "application/json"),
    ("_repr_svg_", "image/svg+xml"),
    ("_repr_png_", "image/png"),
    ("_repr_jpeg_", "image/jpeg"),
)
# Objects answering every attribute (mocks, proxies) would fake rich reprs;
# IPython detects them by asking for an attribute nobody defines.
_CANARY_ATTRIBUTE = "_ipython_canary_method_should_not_exist_"


class Channel:
    """Newline-delimited JSON frames over the protocol socket."""

    def __init__(self, fd):
        self.fd = fd
        # Output frames (reader thread) and results/pongs (main thread) share the socket.
        self.lock = threading.Lock()

    def messages(self):
        """Yield the host's requests until it closes the socket."""
        pending = bytearray()
        while True:
            try:
                chunk = os.read(self.fd, READ_CHUNK)
            except ConnectionError:
                return
            if not chunk:
                return
            pending += chunk
            if b"\n" not in chunk:
                continue
            *lines, rest = pending.split(b"\n")
            pending = bytearray(rest)
            for line in lines:
                request = _parse_request(line)
                if request is not None:
                    yield request

    def send(self, frame):
        with self.lock:
            self.write_frame(frame)

    def write_frame(self, frame):
        """Write one whole frame; the caller must hold self.lock."""
        text = _ENCODER.encode(frame) + "\n"
        # Lone surrogates become \\uXXXX escapes, which are still valid JSON.
        view = memoryview(text.encode("utf-8", "backslashreplace"))
        while view:
            try:
                written = os.write(self.fd, view)
            except OSError:  # the host is gone
                os._exit(0)
            view = view[written:]


def _parse_request(line):
    try:
        request = json.loads(line)
    except ValueError:
        return None
    return request if isinstance(request, dict) else None


class _CapturedStream:
    """One of fds 1/2, redirected into a pipe that the worker reads."""

    def __init__(self, name, fd):
        self.name = name  # both the protocol stream name and the sys attribute
        self.fd = fd
        self.read_fd, self.saved_fd = os.pipe()
        os.set_blocking(self.read_fd, False)
        os.dup2(self.saved_fd, fd)  # saved_fd stays private, to restore fd later
        self.decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self.wrapper = _text_writer(fd)
        setattr(sys, name, self.wrapper)

    def restore(self):
        """Undo os.close(fd) or sys.<name>.close() done by user code."""
        os.dup2(self.saved_fd, self.fd)
        if getattr(sys, self.name, None) is self.wrapper and self.wrapper.closed:
            self.wrapper = _text_writer(self.fd)
            setattr(sys, self.name, self.wrapper)


def _text_writer(fd):
    # Unbuffered like `python -u`, so print() and os.write() on one fd stay in order.
    raw = io.FileIO(fd, "w", closefd=False)
    return io.TextIOWrapper(raw, encoding="utf-8", errors="backslashreplace",
                            line_buffering=True, write_through=True)


class OutputCapture:
    """Forwards fds 1 and 2 to the host as output frames, within an output budget."""

    def __init__(self, channel):
        self._channel = channel
        self.max_bytes = None  # per execution; None: unlimited
        self._streams = []
        # The fields below are guarded by channel.lock.
        self._exec_id = None
        self._room = None  # bytes the running execution may still send; None = unlimited
        self._truncated = False

    def start(self, parent_pid):
        self._streams = [_CapturedStream("stdout", 1), _CapturedStream("stderr", 2)]
        self._read_fds = [stream.read_fd for stream in self._streams]
        # _thread rather than threading.Thread: start() would wait until the new thread runs,
        # which under load was the largest part of a forked session's start. Output written
        # before the reader runs waits in the pipe.
        _thread.start_new_thread(self._watch, (parent_pid,))

    def begin(self, exec_id):
        with self._channel.lock:
            self._exec_id = exec_id
            self._room = self.max_bytes
            self._truncated = False

    def restore(self):
        """Flush Python-level buffers and repair fds/streams user code broke."""
        for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
            try:
                stream.flush()
            except Exception:  # None, closed, or a user replacement that fails
                pass
        for stream in self._streams:
            stream.restore()

    def finish(self, result):
        """Send the execution's remaining output, then its result, atomically."""
        with self._channel.lock:
            # One poll tells which pipes hold anything: most cells print nothing.
            readable, _, _ = select.select(self._read_fds, (), (), 0)
            for stream in self._streams:
                if stream.read_fd in readable:
                    self._drain(stream)
            result["truncated"] = self._truncated
            self._channel.write_frame(result)
            self._exec_id = None
            self._room = None

    def _watch(self, parent_pid):
        """Reader thread: forward output as it happens, and exit if the host dies."""
        streams = {stream.read_fd: stream for stream in self._streams}
        poller = select.poll()
        for fd in streams:
            poller.register(fd, select.POLLIN)
        # No events requested: poll still reports POLLHUP once the host closes
        # its end, which we must notice even while user code loops forever.
        poller.register(self._channel.fd, 0)
        while True:
            events = poller.poll(WATCHDOG_INTERVAL_MS)
            # A forked session's parent is the template, which may die on its own:
            # it has no parent to watch (parent_pid None) and relies on the channel.
            if parent_pid is not None and os.getppid() != parent_pid:  # the host died
                os._exit(1)
            more_pending = False
            for fd, _ in events:
                if fd == self._channel.fd:
                    os._exit(0)
                with self._channel.lock:
                    more_pending |= self._pump(streams[fd]) == READ_CHUNK
            if events and not more_pending:
                time.sleep(COALESCE_SECONDS)

    def _drain(self, stream):
        budget = DRAIN_LIMIT
        while budget > 0:
            count = self._pump(stream)
            if count == 0:
                break
            budget -= count
        self._send_text(stream, stream.decoder.decode(b"", final=True))

    def _pump(self, stream):
        """Forward one chunk of a pipe; return the bytes read. Needs channel.lock."""
        try:
            data = os.read(stream.read_fd, READ_CHUNK)
        except BlockingIOError:
            return 0
        kept = self._within_budget(data)
        # At the cut, flush the decoder so dropped bytes never join later text.
        self._send_text(stream, stream.decoder.decode(kept, final=len(kept) < len(data)))
        return len(data)

    def _within_budget(self, data):
        """Keep what fits in maxOutputBytes; the rest is dropped, never buffered."""
        if self._room is None:
            return data
        if len(data) > self._room:
            data = data[:self._room]
            self._truncated = True
        self._room -= len(data)
        return data

    def _send_text(self, stream, text):
        if text:
            self._channel.write_frame({"op": "output", "id": self._exec_id,
                                       "stream": stream.name, "text": text})


class Session:
    """Runs cells in one shared namespace, like a notebook kernel."""

    def __init__(self, channel, capture, namespace=None):
        self._channel = channel
        self._capture = capture
        # A forked session inherits the template's warmed namespace.
        self._namespace = _main_namespace() if namespace is None else namespace
        self._execution_count = 0
        self._cell_number = 0
        self._interruptible = False
        self._pid = os.getpid()
        self._stdin = sys.stdin

    def start(self, config):
        """Apply the session's config (working directory, limits), say ready, and serve."""
        if config.get("cwd"):
            os.chdir(config["cwd"])
        limits = config.get("limits") or {}
        self._capture.max_bytes = _limit_value(limits, "maxOutputBytes")
        # Limits come after the pipes and the reader thread exist: low
        # RLIMIT_AS/NPROC/NOFILE values would otherwise make that setup fail.
        _apply_limits(limits)
        version = "%d.%d.%d" % sys.version_info[:3]
        self._channel.send({"op": "ready", "pid": os.getpid(), "python": version,
                            "executable": sys.executable})
        self.serve()

    def install_interrupt_handler(self):
        signal.signal(signal.SIGINT, self._on_sigint)

    def serve(self):
        for request in self._channel.messages():
            op = request.get("op")
            if op == "exec":
                self.execute(request)
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
        outcome = self._run_cell(request.get("code", ""), "<cell-%d>" % self._cell_number)
        duration_ms = (time.perf_counter() - started) * 1000
        if os.getpid() != self._pid:  # a fork() in user code must not use the channel
            os._exit(0)
        self._repair_process_state()
        result = {"op": "result", "id": exec_id}
        result.update(outcome)
        result.update(executionCount=self._execution_count, truncated=False,
                      durationMs=duration_ms)
        self._capture.finish(result)

    def _run_cell(self, code, filename):
        try:
            body, last = _compile_cell(code, filename)
        except Exception as exc:  # SyntaxError, or ValueError for NUL bytes, etc.
            return _failure(exc, None)
        linecache.cache[filename] = (len(code), None, code.splitlines(True), filename)
        try:
            value, data = self._evaluate(body, last)
        except BaseException as exc:  # SystemExit and KeyboardInterrupt are data too
            return _failure(exc, exc.__traceback__)
        return {"status": "ok", "value": value, "data": data, "error": None}

    def _evaluate(self, body, last):
        """Run a compiled cell; return (repr, mime bundle) of its value."""
        namespace = self._namespace
        self._interruptible = True
        try:
            exec(body, namespace)
            value = eval(last, namespace) if last is not None else None
            if value is None:
                return None, None
            namespace["_"] = value
            text = repr(value)  # user code too: may raise, loop or be interrupted
            return text, _mime_bundle(value, text)
        finally:
            self._interruptible = False

    def _on_sigint(self, signum, frame):
        # Only user code is interrupted. Between executions, and in this file's
        # frames just before or after user code, the signal is dropped, so it
        # can neither kill the worker nor break a result's bookkeeping.
        if (self._interruptible and frame is not None
                and frame.f_code.co_filename != _WORKER_FILENAME):
            raise KeyboardInterrupt

    def _repair_process_state(self):
        """Undo changes by user code that would break later cells or the worker."""
        self._capture.restore()
        if sys.stdin is self._stdin and self._stdin.closed:  # exit() closes stdin
            self._stdin = io.TextIOWrapper(io.FileIO(0, "r", closefd=False), encoding="utf-8")
            sys.stdin = self._stdin


def _main_namespace():
    """Return the shared namespace: the dict of a fresh __main__ module.

    Registering the module as sys.modules['__main__'] lets pickle and
    multiprocessing find functions and classes defined in cells.
    """
    module = types.ModuleType("__main__")
    module.__builtins__ = builtins
    sys.modules["__main__"] = module
    return module.__dict__


_NOTHING = compile("", "<empty>", "exec")


def _compile_cell(code, filename):
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


def _failure(exc, tb):
    status = "interrupted" if isinstance(exc, KeyboardInterrupt) else "error"
    return {"status": status, "value": None, "data": None, "error": _error_info(exc, tb)}


def _error_info(exc, tb):
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
            [frame for frame in current.stack if frame.filename != _WORKER_FILENAME])
        pending.extend(link for link in (current.__cause__, current.__context__) if link)
    return "".join(report.format())


def _mime_bundle(value, text):
    """Jupyter-style mime bundle; a failing _repr_*_ method is just skipped."""
    bundle = {}
    # Builtin types have no rich reprs: keep the common case cheap.
    if type(value).__module__ != "builtins" and _lookup(value, _CANARY_ATTRIBUTE) is None:
        bundle.update(_rich_bundle(value))
    bundle["text/plain"] = text
    return bundle


def _rich_bundle(value):
    bundle = {}
    offered = _call_repr(value, "_repr_mimebundle_", include=None, exclude=None)
    if isinstance(offered, tuple):  # (data, metadata)
        offered = offered[0]
    if isinstance(offered, dict):
        for mime, content in offered.items():
            content = _json_content(content)
            if isinstance(mime, str) and content is not None:
                bundle[mime] = content
    for method, mime in _RICH_REPRS:
        if mime not in bundle:
            content = _json_content(_call_repr(value, method))
            if content is not None:
                bundle[mime] = content
    return bundle


def _lookup(value, name):
    try:
        return getattr(value, name, None)
    except Exception:  # a property or __getattr__ that raises
        return None


def _call_repr(value, name, **kwargs):
    method = _lookup(value, name)
    if not callable(method):
        return None
    try:
        return method(**kwargs)
    except Exception:
        return None


def _json_content(content):
    """Make one bundle entry JSON-safe: bytes become base64, the rest must serialise."""
    if isinstance(content, tuple):  # (data, metadata)
        content = content[0] if content else None
    if isinstance(content, (bytes, bytearray)):
        import base64  # only images need it

        return base64.b64encode(content).decode("ascii")
    if content is None or isinstance(content, str):
        return content
    try:
        json.dumps(content)
    except Exception:
        return None
    return content


def _apply_limits(limits):
    if resource is None:
        return
    for key, name in _RLIMITS:
        value = _limit_value(limits, key)
        which = getattr(resource, name, None)
        if value is None or which is None:
            continue
        try:
            hard = resource.getrlimit(which)[1]
            if hard != resource.RLIM_INFINITY:
                value = min(value, hard)  # an unprivileged process cannot go above it
            # CPU: SIGXCPU at the soft limit names the reason; SIGKILL a second later if it is ignored.
            ceiling = value + 1 if name == "RLIMIT_CPU" and hard == resource.RLIM_INFINITY else value
            resource.setrlimit(which, (value, ceiling))
        except Exception:  # a limit the platform refuses is skipped, never fatal
            pass


def _limit_value(limits, key):
    """A limit from the config: a non-negative number, or None (unset or unusable)."""
    value = limits.get(key)
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0:
        return int(value)
    return None


def _set_parent_death_signal():
    """On Linux, have the kernel SIGKILL this process when the host dies."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    except Exception:  # optional: the watchdog thread covers this too
        pass


def _prepare_session(parent_pid, namespace=None):
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
    session.install_interrupt_handler()
    return session


# --- Template mode: a warmed process that forks sessions ---------------------
#
# ``worker.py --template '<json>'`` runs the pool's warmupCode once, then forks
# a session for every {"op": "fork"} request on fd 3. Each child joins the
# host on its own Unix socket and serves like an exec'd worker; the template
# reports its children's exits, since the host is not their parent.


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
                pending += chunk
                *lines, rest = pending.split(b"\n")
                pending = bytearray(rest)
                for line in lines:
                    self._handle(_parse_request(line))

    def _handle(self, request):
        if request is None:
            return
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
        hello = {"op": "hello", "token": request.get("token")}
        os.write(CHANNEL_FD, (json.dumps(hello) + "\n").encode("utf-8"))
        # A spare: forked ahead of demand, it gets ready all it can, then waits for a session's config.
        _set_process_name(b"pyrepl3-spare")
        session = _prepare_session(None, self._namespace)
        config = _read_config(CHANNEL_FD)
        _set_process_name(b"pyrepl3-session")
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


def _read_config(fd):
    """The one line a spare waits for: its session's config. End of file: the host let it go.

    The host sends nothing more until this session says ready, so reading past the line loses nothing.
    """
    line = bytearray()
    while not line.endswith(b"\n"):
        chunk = os.read(fd, READ_CHUNK)
        if not chunk:
            os._exit(0)
        line += chunk
    request = _parse_request(bytes(line)) or {}
    return request.get("config") or {}


_prctl = None


def _set_process_name(name):
    """Name the process for ps and top (Linux): template, spare or session."""
    global _prctl
    if not sys.platform.startswith("linux"):
        return
    try:
        if _prctl is None:  # looked up once, in the template: forked children inherit it
            import ctypes
            _prctl = ctypes.CDLL(None).prctl
        _prctl(PR_SET_NAME, name, 0, 0, 0)
    except Exception:
        pass


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
        body, last = _compile_cell(code, "<warmup>")
        linecache.cache["<warmup>"] = (len(code), None, code.splitlines(True), "<warmup>")
        exec(body, namespace)
        if last is not None:
            eval(last, namespace)
    except BaseException as exc:
        return _error_info(exc, exc.__traceback__)
    return None


def _serve_template(config):
    os.fstat(CHANNEL_FD)
    os.set_inheritable(CHANNEL_FD, False)
    os.set_blocking(CHANNEL_FD, True)
    _set_parent_death_signal()
    _set_process_name(b"pyrepl3-template")
    channel = Channel(CHANNEL_FD)
    channel.send({"op": "started", "pid": os.getpid()})  # warmup may take long: say we are alive
    namespace = _main_namespace()
    error = _run_warmup(namespace, config.get("warmupCode"))
    if error is not None:
        channel.send({"op": "failed", "error": error})
        os._exit(1)
    # A thread does not survive fork(): a template that has more than one cannot fork safely.
    threads = threading.active_count()
    channel.send({"op": "ready", "pid": os.getpid(), "forkSafe": threads == 1, "threads": threads})
    Template(channel, namespace).serve()


def main(argv=None):
    argv = sys.argv if argv is None else argv
    if len(argv) > 2 and argv[1] == "--template":
        _serve_template(json.loads(argv[2]))
        return
    parent_pid = os.getppid()
    _set_parent_death_signal()
    config = json.loads(argv[1]) if len(argv) > 1 else {}
    _prepare_session(parent_pid).start(config)


if __name__ == "__main__":
    main()
