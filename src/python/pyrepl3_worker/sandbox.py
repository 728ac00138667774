"""Entering a session's sandbox. The host computes the plan; this module carries it out.

Exec mode: bubblewrap has built the namespaces and the file system, and the worker only calls
``confine``. Fork mode: a child of the template calls ``enter`` first, which does what bubblewrap
would (namespaces, a new root of read-only binds and one private tmpfs, /proc, /dev) and returns in
the session's process, pid 2 of its own PID namespace under a small init.

``confine`` is the last step in both modes, before any thread starts: the writable folders become
the session user's, oom_score_adj is raised, every capability is dropped, the uid and gid become
unprivileged, and the seccomp filter is loaded.

The plan (JSON from the host, src/sandbox/plan.ts): uid, gid, network, diskBytes, hostname,
readOnly/writable [{source, target}], symlinks [{path, target}], devices [path], sessionRoot,
privateTmpfs [path], writableDirs [path], workdir, workerDir.
"""

import ctypes
import os
import signal

from .landlock import restrict_writes
from .seccomp import install_filter
from .system import set_process_name

CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_REMOUNT = 0x20
MS_BIND = 0x1000
MS_REC = 0x4000
MS_PRIVATE = 0x40000
MNT_DETACH = 0x2

PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_SET_NO_NEW_PRIVS = 38
PR_CAPBSET_DROP = 24
LAST_CAPABILITY = 63

_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41}
_SIOCGIFFLAGS, _SIOCSIFFLAGS, _IFF_UP = 0x8913, 0x8914, 0x1

_libc = ctypes.CDLL(None, use_errno=True)


def enter(plan):
    """Fork mode, in a fresh child of the template (single-threaded): build the sandbox and return
    inside it, in the session's process. The callers of this function on the way out are the
    monitor and the init, which never return."""
    flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWCGROUP
    if not plan.get("network"):
        flags |= CLONE_NEWNET
    uid, gid = os.getuid(), os.getgid()
    if uid != 0:  # without root, namespaces need a user namespace, in which the session keeps its uid
        flags |= CLONE_NEWUSER
    _call(_libc.unshare(flags), "unshare")
    if uid != 0:
        _map_own_ids(uid, gid)
    _follow_in_child(_monitor)  # this process stays outside; its child is pid 1 inside
    _set_parent_death_signal()
    _build_root(plan)
    import socket  # fork mode only: exec'd sessions, where bubblewrap did this, do not pay for the import

    if not plan.get("network"):
        _bring_up_loopback(socket)
    socket.sethostname(plan.get("hostname", "sandbox"))
    _follow_in_child(_init)  # pid 1 reaps orphans; its child, pid 2, is the session


def confine(plan):
    """Both modes, before any thread starts: give up root for good."""
    os.setsid()  # a process group of its own inside the sandbox: the host's interrupts reach its children
    os.environ["HOME"] = plan["workdir"]
    as_root = os.getuid() == 0
    if as_root:
        for path in plan.get("writableDirs", ()):
            os.chown(path, plan["uid"], plan["gid"])
    # Under memory pressure the kernel kills sessions first; without CAP_SYS_RESOURCE they cannot lower it.
    with open("/proc/self/oom_score_adj", "w") as oom:
        oom.write("1000")
    for capability in range(LAST_CAPABILITY + 1):
        _libc.prctl(PR_CAPBSET_DROP, capability, 0, 0, 0)  # EINVAL past the kernel's last one
    if as_root:
        os.setgroups([])
        os.setresgid(plan["gid"], plan["gid"], plan["gid"])
        os.setresuid(plan["uid"], plan["uid"], plan["uid"])
        # Changing uid made the process non-dumpable, which hides its own /proc/self from it.
        _libc.prctl(PR_SET_DUMPABLE, 1, 0, 0, 0)
    _call(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
    places = [plan["sessionRoot"], "/dev"] + plan.get("privateTmpfs", [])
    restrict_writes(_libc, places + [bind["target"] for bind in plan.get("writable", ())])
    install_filter(_libc)
    _set_parent_death_signal()  # the uid change cleared it


def _map_own_ids(uid, gid):
    with open("/proc/self/setgroups", "w") as setgroups:
        setgroups.write("deny")
    with open("/proc/self/uid_map", "w") as uid_map:
        uid_map.write("%d %d 1" % (uid, uid))
    with open("/proc/self/gid_map", "w") as gid_map:
        gid_map.write("%d %d 1" % (gid, gid))


def _follow_in_child(parent_role):
    """Fork; the parent takes `parent_role` (which never returns), the child returns."""
    child = os.fork()
    if child != 0:
        parent_role(child)


def _monitor(child):
    """Outside the namespaces: live as long as the sandbox's init, and exit as it did."""
    set_process_name(b"pyrepl3-monitor")
    os.close(3)  # only the session holds the channel: its end of file must mean the session is gone
    _, status = os.waitpid(child, 0)
    os._exit(_exit_code(status))


def _init(session):
    """pid 1: reap every orphan until the session itself exits; the kernel then ends the rest."""
    set_process_name(b"pyrepl3-init")
    os.close(3)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    while True:
        pid, status = os.wait()
        if pid == session:
            os._exit(_exit_code(status))


def _exit_code(status):
    """Like a shell: 128 + N for death by signal N, so the host can tell which."""
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


def _build_root(plan):
    """A new root: a read-only tmpfs of binds, the session's private tmpfs, /proc and /dev."""
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    # As bubblewrap does: a scratch tmpfs becomes the root at once, the host's root under /oldroot.
    _mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755")
    os.mkdir("/tmp/newroot")
    os.mkdir("/tmp/oldroot")
    _pivot_root("/tmp", "/tmp/oldroot")
    os.chdir("/")
    _mount("tmpfs", "/newroot", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755")
    for path in plan.get("privateTmpfs", ()):
        os.makedirs("/newroot" + path)
        _mount("tmpfs", "/newroot" + path, "tmpfs", MS_NOSUID | MS_NODEV, _tmpfs_options("1777", plan))
    for bind in plan.get("readOnly", ()):
        _bind(bind["source"], bind["target"], MS_NOSUID | MS_NODEV | MS_RDONLY)
    for bind in plan.get("writable", ()):
        _bind(bind["source"], bind["target"], MS_NOSUID | MS_NODEV)
    _make_dev(plan.get("devices", ()))
    _make_session_root(plan)
    for link in plan.get("symlinks", ()):
        _make_parents("/newroot" + link["path"])
        os.symlink(link["target"], "/newroot" + link["path"])
    os.mkdir("/newroot/proc")
    _mount("proc", "/newroot/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    # Into the new root; the old one is detached and gone from this namespace.
    os.chdir("/newroot")
    _pivot_root(".", ".")
    _call(_libc.umount2(b".", MNT_DETACH), "umount2")
    os.chdir("/")
    _mount(None, "/", None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)


def _bind(source, target, flags):
    """Bind the host's `source` (under /oldroot) at `target` with mount `flags`; a missing source is skipped."""
    host_path = "/oldroot" + source
    if not os.path.lexists(host_path):
        return
    inside = "/newroot" + target
    _make_parents(inside)
    if os.path.islink(host_path):  # mount would follow it against the wrong root: copy the link
        os.symlink(os.readlink(host_path), inside)
        return
    if os.path.isdir(host_path):
        os.makedirs(inside, exist_ok=True)
    elif not os.path.exists(inside):
        open(inside, "w").close()
    _mount(host_path, inside, None, MS_BIND | MS_REC)
    _mount(None, inside, None, MS_REMOUNT | MS_BIND | flags)


def _make_dev(devices):
    os.mkdir("/newroot/dev")
    _mount("tmpfs", "/newroot/dev", "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=0755")
    for device in devices:
        _bind(device, device, MS_NOSUID | MS_NOEXEC)


def _make_session_root(plan):
    """The session's one writable tmpfs, capped by diskBytes; its folders are chowned by confine."""
    root = "/newroot" + plan["sessionRoot"]
    os.makedirs(root)
    _mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV, _tmpfs_options("0755", plan))
    for path in plan.get("writableDirs", ()):
        os.makedirs("/newroot" + path, exist_ok=True)


def _tmpfs_options(mode, plan):
    if plan.get("diskBytes"):
        return "mode=%s,size=%d" % (mode, plan["diskBytes"])
    return "mode=" + mode


def _make_parents(path):
    os.makedirs(os.path.dirname(path), exist_ok=True)


def _bring_up_loopback(socket):
    import fcntl
    import struct

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        request = struct.pack("16sH14x", b"lo", 0)
        flags = struct.unpack("16sH14x", fcntl.ioctl(probe.fileno(), _SIOCGIFFLAGS, request))[1]
        fcntl.ioctl(probe.fileno(), _SIOCSIFFLAGS, struct.pack("16sH14x", b"lo", flags | _IFF_UP))


def _set_parent_death_signal():
    _libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)


def _mount(source, target, fstype, flags, data=None):
    encode = lambda value: None if value is None else value.encode()  # noqa: E731
    result = _libc.mount(encode(source), encode(target), encode(fstype), flags, encode(data))
    _call(result, "mount %s" % target)


def _pivot_root(new_root, put_old):
    number = _PIVOT_ROOT[os.uname().machine]
    _call(_libc.syscall(number, new_root.encode(), put_old.encode()), "pivot_root")


def _call(result, what):
    if result != 0:
        error = ctypes.get_errno()
        raise OSError(error, "sandbox: %s: %s" % (what, os.strerror(error)))
