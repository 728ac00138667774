"""What the worker asks of the OS: resource limits, death with the host, a process name."""

import signal
import sys

try:
    import resource
except ImportError:  # not available on every platform; limits are then skipped
    resource = None

PR_SET_PDEATHSIG = 1


PR_SET_NAME = 15

_RLIMITS = (
    ("memoryBytes", "RLIMIT_AS"),
    ("cpuSeconds", "RLIMIT_CPU"),
    ("maxProcesses", "RLIMIT_NPROC"),
    ("maxOpenFiles", "RLIMIT_NOFILE"),
    ("diskBytes", "RLIMIT_FSIZE"),  # unsandboxed, only per file: a sandbox's tmpfs holds it for the session
)


def apply_limits(limits):
    if resource is None:
        return
    for key, name in _RLIMITS:
        value = limit_value(limits, key)
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


def limit_value(limits, key):
    """A limit from the config: a non-negative number, or None (unset or unusable)."""
    value = limits.get(key)
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0:
        return int(value)
    return None


def set_parent_death_signal():
    """On Linux, have the kernel SIGKILL this process when the host dies."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    except Exception:  # optional: the watchdog thread covers this too
        pass


_prctl = None


def set_process_name(name):
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
