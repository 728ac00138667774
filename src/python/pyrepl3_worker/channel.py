"""The protocol channel: newline-delimited JSON frames on fd 3, shared by two threads."""

import json
import os
import threading

CHANNEL_FD = 3


READ_CHUNK = 64 * 1024
# Built once: json.dumps(ensure_ascii=False) would build an encoder per frame.
_ENCODER = json.JSONEncoder(ensure_ascii=False)


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
            yield from take_requests(pending, chunk)

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


def take_requests(pending, chunk):
    """Add chunk to pending (a bytearray) and return the whole requests it completes, in order."""
    pending += chunk
    if b"\n" not in chunk:
        return []
    *lines, rest = pending.split(b"\n")
    pending[:] = rest
    return [request for request in map(parse_request, lines) if request is not None]


def parse_request(line):
    try:
        request = json.loads(line)
    except ValueError:
        return None
    return request if isinstance(request, dict) else None
