"""The session's seccomp filter: a deny-list of the syscalls that reach outside a sandbox.

Built as a classic BPF program and loaded with prctl, through ctypes: the worker stays stdlib-only.
Denied calls fail with EPERM (ENOSYS for clone3, so that libc falls back to clone, whose flags a
filter can read). A syscall of another ABI than the one the table is for kills the process.
"""

import ctypes
import errno
import os
import struct

PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2

_RET_ALLOW = 0x7FFF0000
_RET_ERRNO = 0x00050000
_RET_KILL_PROCESS = 0x80000000

_LOAD_WORD = 0x20  # BPF_LD | BPF_W | BPF_ABS
_JUMP_EQUAL = 0x15  # BPF_JMP | BPF_JEQ | BPF_K
_JUMP_AT_LEAST = 0x35  # BPF_JMP | BPF_JGE | BPF_K
_JUMP_ANY_BIT = 0x45  # BPF_JMP | BPF_JSET | BPF_K
_RETURN = 0x06  # BPF_RET | BPF_K

# Offsets in struct seccomp_data: nr, arch, then the arguments (the low word of args[0] on little-endian).
_NR, _ARCH, _FIRST_ARGUMENT = 0, 4, 16

# Flags by which clone() would make new namespaces: NEWTIME, NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET.
_NAMESPACE_FLAGS = 0x00000080 | 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000

# What is denied, by name: reading or steering other processes, namespaces and mounts, kernel
# keyrings, modules and BPF, the clock, swap and reboot, and io_uring (a frequent source of kernel bugs).
DENIED = (
    "ptrace", "process_vm_readv", "process_vm_writev", "pidfd_open", "pidfd_getfd", "kcmp",
    "mount", "umount2", "pivot_root", "chroot", "setns", "unshare", "open_tree", "move_mount",
    "fsopen", "fsconfig", "fsmount", "fspick", "mount_setattr", "open_by_handle_at", "name_to_handle_at",
    "bpf", "perf_event_open", "userfaultfd", "keyctl", "add_key", "request_key",
    "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module",
    "swapon", "swapoff", "reboot", "acct", "quotactl", "syslog", "vhangup",
    "settimeofday", "clock_settime", "adjtimex", "clock_adjtime",
    "io_uring_setup", "io_uring_enter", "io_uring_register",
)

# Syscall numbers per machine (asm/unistd_64.h and asm-generic/unistd.h), with the audit arch
# value the kernel puts in seccomp_data and the first number of a foreign ABI (x32), if any.
_TABLES = {
    "x86_64": {
        "arch": 0xC000003E,
        "foreign_from": 0x40000000,
        "numbers": {
            "ptrace": 101, "process_vm_readv": 310, "process_vm_writev": 311, "pidfd_open": 434,
            "pidfd_getfd": 438, "kcmp": 312, "mount": 165, "umount2": 166, "pivot_root": 155,
            "chroot": 161, "setns": 308, "unshare": 272, "open_tree": 428, "move_mount": 429,
            "fsopen": 430, "fsconfig": 431, "fsmount": 432, "fspick": 433, "mount_setattr": 442,
            "open_by_handle_at": 304, "name_to_handle_at": 303, "bpf": 321, "perf_event_open": 298,
            "userfaultfd": 323, "keyctl": 250, "add_key": 248, "request_key": 249, "kexec_load": 246,
            "kexec_file_load": 320, "init_module": 175, "finit_module": 313, "delete_module": 176,
            "swapon": 167, "swapoff": 168, "reboot": 169, "acct": 163, "quotactl": 179, "syslog": 103,
            "vhangup": 153, "settimeofday": 164, "clock_settime": 227, "adjtimex": 159,
            "clock_adjtime": 305, "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427,
            "clone": 56, "clone3": 435,
        },
    },
    "aarch64": {
        "arch": 0xC00000B7,
        "foreign_from": None,
        "numbers": {
            "ptrace": 117, "process_vm_readv": 270, "process_vm_writev": 271, "pidfd_open": 434,
            "pidfd_getfd": 438, "kcmp": 272, "mount": 40, "umount2": 39, "pivot_root": 41,
            "chroot": 51, "setns": 268, "unshare": 97, "open_tree": 428, "move_mount": 429,
            "fsopen": 430, "fsconfig": 431, "fsmount": 432, "fspick": 433, "mount_setattr": 442,
            "open_by_handle_at": 265, "name_to_handle_at": 264, "bpf": 280, "perf_event_open": 241,
            "userfaultfd": 282, "keyctl": 219, "add_key": 217, "request_key": 218, "kexec_load": 104,
            "kexec_file_load": 294, "init_module": 105, "finit_module": 273, "delete_module": 106,
            "swapon": 224, "swapoff": 225, "reboot": 142, "acct": 89, "quotactl": 60, "syslog": 116,
            "vhangup": 58, "settimeofday": 170, "clock_settime": 112, "adjtimex": 171,
            "clock_adjtime": 266, "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427,
            "clone": 220, "clone3": 435,
        },
    },
}


def syscall_table():
    """This machine's table, or None where the filter cannot be built."""
    return _TABLES.get(os.uname().machine)


def build_filter(table):
    """The BPF program for `table`, as bytes of struct sock_filter."""
    numbers = table["numbers"]
    # Each check is (code, k, label it jumps to when true); labels are the returns at the end.
    checks = [(_LOAD_WORD, _ARCH, None), (_JUMP_EQUAL, table["arch"], "next-else-kill"), (_LOAD_WORD, _NR, None)]
    if table["foreign_from"] is not None:
        checks.append((_JUMP_AT_LEAST, table["foreign_from"], "kill"))
    checks += [(_JUMP_EQUAL, numbers[name], "deny") for name in DENIED]
    checks += [(_JUMP_EQUAL, numbers["clone3"], "nosys"), (_JUMP_EQUAL, numbers["clone"], "clone")]
    returns = ["allow", "deny", "nosys", "kill", "clone"]
    first_return = len(checks)
    clone_flags_at = first_return + len(returns) - 1
    program = []
    for index, (code, k, label) in enumerate(checks):
        if code == _LOAD_WORD:
            program.append((code, 0, 0, k))
        elif label == "next-else-kill":
            program.append((code, 0, first_return + returns.index("kill") - index - 1, k))
        else:
            program.append((code, first_return + returns.index(label) - index - 1, 0, k))
    program += [
        (_RETURN, 0, 0, _RET_ALLOW),
        (_RETURN, 0, 0, _RET_ERRNO | errno.EPERM),
        (_RETURN, 0, 0, _RET_ERRNO | errno.ENOSYS),
        (_RETURN, 0, 0, _RET_KILL_PROCESS),
    ]
    # clone: new namespaces are denied, every other clone (fork, threads) allowed.
    assert len(program) == clone_flags_at
    program += [
        (_LOAD_WORD, 0, 0, _FIRST_ARGUMENT),
        (_JUMP_ANY_BIT, 0, 1, _NAMESPACE_FLAGS),
        (_RETURN, 0, 0, _RET_ERRNO | errno.EPERM),
        (_RETURN, 0, 0, _RET_ALLOW),
    ]
    return b"".join(struct.pack("HBBI", *instruction) for instruction in program)


def install_filter(libc):
    """Load the filter into this thread (call it before any thread starts, after no_new_privs)."""
    table = syscall_table()
    if table is None:
        raise OSError(errno.ENOSYS, "no seccomp syscall table for %s" % os.uname().machine)
    code = build_filter(table)
    buffer = ctypes.create_string_buffer(code, len(code))

    class _Program(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    program = _Program(len(code) // 8, ctypes.cast(buffer, ctypes.c_void_p))
    _check(libc, libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(program), 0, 0), "seccomp")


def _check(libc, result, what):
    if result != 0:
        error = ctypes.get_errno()
        raise OSError(error, "%s: %s" % (what, os.strerror(error)))
