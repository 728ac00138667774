"""Landlock: a session may write files only in its own places.

Its mounts already make the host's files read-only; this also covers what mounts cannot, such as
/proc/self/oom_score_adj, which a process may otherwise lower back to where it was without
CAP_SYS_RESOURCE. Best effort: a kernel without Landlock (before 5.13, or not enabled) leaves
the mounts alone to hold.
"""

import ctypes
import errno
import os
import struct

_CREATE_RULESET, _ADD_RULE, _RESTRICT_SELF = 444, 445, 446  # the same on x86_64 and aarch64
_RULE_PATH_BENEATH = 1
_WRITE_FILE = 1 << 1


def restrict_writes(libc, writable):
    """Allow opening files for writing only beneath `writable`; return False where Landlock is absent."""
    handled = struct.pack("Q", _WRITE_FILE)
    ruleset = libc.syscall(_CREATE_RULESET, handled, len(handled), 0)
    if ruleset < 0:
        if ctypes.get_errno() in (errno.ENOSYS, errno.EOPNOTSUPP):
            return False
        raise OSError(ctypes.get_errno(), "landlock_create_ruleset: %s" % os.strerror(ctypes.get_errno()))
    try:
        for path in writable:
            _allow(libc, ruleset, path)
        if libc.syscall(_RESTRICT_SELF, ruleset, 0) != 0:
            raise OSError(ctypes.get_errno(), "landlock_restrict_self: %s" % os.strerror(ctypes.get_errno()))
    finally:
        os.close(ruleset)
    return True


def _allow(libc, ruleset, path):
    fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    try:
        rule = struct.pack("=Qi", _WRITE_FILE, fd)  # struct landlock_path_beneath_attr, packed
        if libc.syscall(_ADD_RULE, ruleset, _RULE_PATH_BENEATH, rule, 0) != 0:
            raise OSError(ctypes.get_errno(), "landlock_add_rule %s: %s" % (path, os.strerror(ctypes.get_errno())))
    finally:
        os.close(fd)
