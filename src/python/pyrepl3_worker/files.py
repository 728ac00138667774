"""Files in and out of a session, confined to its working folder (the worker's cwd at start).

  host -> worker   {"op": "writeFile", "id", "path", "data": base64} | {"op": "readFile", "id", "path", "maxBytes"}
  worker -> host   {"op": "file", "id", "data": base64 | null, "error": {"code", "message"} | null}

A path is relative to the folder (or absolute inside it). It is walked one component at a time
from a descriptor of the folder opened at start, every component opened with O_NOFOLLOW, so
neither "..", nor an absolute path elsewhere, nor a symlink (planted by user code, anywhere on the
way) leads out, and renaming the folder meanwhile changes nothing.
"""

import base64
import errno
import os
import stat


class FileRefused(Exception):
    def __init__(self, code, message):
        Exception.__init__(self, message)
        self.code = code


_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_ERRNO_CODES = {
    errno.ENOENT: "not_found",
    errno.ELOOP: "invalid_path",  # a symlink where O_NOFOLLOW forbids one
    errno.ENOTDIR: "invalid_path",
    errno.EISDIR: "invalid_path",
    errno.EFBIG: "too_large",  # over the session's disk limit (RLIMIT_FSIZE)
    errno.ENOSPC: "too_large",
    errno.EDQUOT: "too_large",
}


class Files:
    def __init__(self, root):
        self._root = os.path.realpath(root)
        self._root_fd = os.open(self._root, _DIR_FLAGS)

    def handle(self, request):
        """Serve one request; return the reply frame."""
        reply = {"op": "file", "id": request.get("id"), "data": None, "error": None}
        try:
            if request.get("op") == "writeFile":
                self._write(request.get("path"), base64.b64decode(request.get("data") or ""))
            else:
                reply["data"] = base64.b64encode(self._read(request.get("path"), request.get("maxBytes"))).decode("ascii")
        except FileRefused as refused:
            reply["error"] = {"code": refused.code, "message": str(refused)}
        except OSError as error:
            reply["error"] = {"code": _ERRNO_CODES.get(error.errno, "io_error"), "message": error.strerror or str(error)}
        return reply

    def _parts(self, path):
        """The path's components below the folder; refuses anything that would leave it."""
        if not isinstance(path, str) or path == "" or "\0" in path:
            raise FileRefused("invalid_path", "a path must be a non-empty string")
        if path.startswith("/"):
            if path != self._root and not path.startswith(self._root + "/"):
                raise FileRefused("invalid_path", "an absolute path must lie inside the session folder")
            path = path[len(self._root):]
        parts = [part for part in path.split("/") if part not in ("", ".")]
        if not parts or ".." in parts:
            raise FileRefused("invalid_path", "the path leaves the session folder or names no file")
        return parts

    def _walk(self, parts, create):
        """A descriptor of the folder holding the last part (the caller closes it)."""
        fd = os.dup(self._root_fd)
        try:
            for part in parts[:-1]:
                if create:
                    try:
                        os.mkdir(part, 0o755, dir_fd=fd)
                    except FileExistsError:
                        pass
                next_fd = os.open(part, _DIR_FLAGS, dir_fd=fd)
                os.close(fd)
                fd = next_fd
        except BaseException:
            os.close(fd)
            raise
        return fd

    def _open(self, parts, flags, create):
        """Opens the last part as a regular file: a FIFO or device planted by user code must not block the worker."""
        folder = self._walk(parts, create)
        try:
            fd = os.open(parts[-1], flags | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, 0o644, dir_fd=folder)
        finally:
            os.close(folder)
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise FileRefused("invalid_path", "not a regular file")
        os.set_blocking(fd, True)
        return fd

    def _write(self, path, data):
        parts = self._parts(path)
        fd = self._open(parts, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, create=True)
        try:
            with os.fdopen(fd, "wb") as stream:
                stream.write(data)
        except OSError:
            # A write that failed (over the disk limit) leaves no partial file taking the space.
            folder = self._walk(parts, create=False)
            try:
                os.unlink(parts[-1], dir_fd=folder)
            finally:
                os.close(folder)
            raise

    def _read(self, path, max_bytes):
        fd = self._open(self._parts(path), os.O_RDONLY, create=False)
        with os.fdopen(fd, "rb") as stream:
            data = stream.read(max_bytes + 1 if isinstance(max_bytes, int) else -1)
        if isinstance(max_bytes, int) and len(data) > max_bytes:
            raise FileRefused("too_large", "the file is larger than %d bytes" % max_bytes)
        return data
