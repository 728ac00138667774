"""Output capture below Python: fds 1 and 2 are pipes that a reader thread forwards as frames."""

import _thread
import codecs
import io
import os
import select
import sys
import time

from .channel import READ_CHUNK

# Once user code has returned, its unsent output is whatever sits in the pipe,
# which never holds more than the pipe capacity (64 KiB by default, 1 MiB max
# for unprivileged users). Draining more than that would only chase a
# background writer and could postpone the result forever.
DRAIN_LIMIT = 1024 * 1024


WATCHDOG_INTERVAL_MS = 1000


# After a partial read the reader naps this long so that small writes coalesce
# into fewer frames (and fewer GIL hand-offs with a busy main thread).
COALESCE_SECONDS = 0.001


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
            self._drain_pipes()
            result["truncated"] = self._truncated
            self._channel.write_frame(result)
            self._exec_id = None
            self._room = None

    def emit_display(self, output):
        """Send a display output of the running execution, after everything printed before it."""
        with self._channel.lock:
            if self._exec_id is None:  # a thread displaying between executions: nobody to show it to
                return
            self._drain_pipes()
            size = _display_size(output)
            if self._room_for(size) < size:  # a display is sent whole or not at all
                return
            self._channel.write_frame({"op": "display", "id": self._exec_id, "output": output})

    def _drain_pipes(self):
        """Forward what the pipes hold. Needs channel.lock."""
        # One poll tells which pipes hold anything: most cells print nothing.
        readable, _, _ = select.select(self._read_fds, (), (), 0)
        for stream in self._streams:
            if stream.read_fd in readable:
                self._drain(stream)

    def _room_for(self, size):
        """How many of size bytes fit in maxOutputBytes (the rest is dropped, never buffered)."""
        if self._room is None:
            return size
        if size > self._room:
            size = self._room
            self._truncated = True
        self._room -= size
        return size

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
        kept = data[:self._room_for(len(data))]
        # At the cut, flush the decoder so dropped bytes never join later text.
        self._send_text(stream, stream.decoder.decode(kept, final=len(kept) < len(data)))
        return len(data)

    def _send_text(self, stream, text):
        if text:
            self._channel.write_frame({"op": "output", "id": self._exec_id,
                                       "stream": stream.name, "text": text})


def _display_size(output):
    data = output.get("data") or {}
    return sum(len(value) if isinstance(value, str) else 64 for value in data.values())
