import { existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { findHierarchies, type Hierarchy } from './cgroups.js';
import { readText } from './read-text.js';

/** What this host offers for sandboxing, as `pyrepl3 doctor` prints it and `sandbox: true` requires it. */
export interface HostReport {
  platform: string;
  arch: string;
  uid: number;
  namespaces: Record<'user' | 'pid' | 'net' | 'mount' | 'ipc' | 'uts', boolean>;
  /** Whether this user may make user namespaces (needed when not root). */
  userNamespacesAllowed: boolean;
  cgroups: Hierarchy[];
  /** The kernel can filter syscalls (seccomp-bpf) and the worker has a syscall table for this machine. */
  seccomp: boolean;
  /** The bubblewrap executable that sandboxes exec'd sessions; null when it is not installed. */
  bwrap: string | null;
}

const NAMESPACE_FILES = { user: 'user', pid: 'pid', net: 'net', mount: 'mnt', ipc: 'ipc', uts: 'uts' } as const;

/** Reads what the host offers; changes nothing. */
export function probeHost(): HostReport {
  const linux = process.platform === 'linux';
  const namespaces = Object.fromEntries(
    Object.entries(NAMESPACE_FILES).map(([name, file]) => [name, linux && existsSync(`/proc/self/ns/${file}`)]),
  ) as HostReport['namespaces'];
  return {
    platform: process.platform,
    arch: process.arch,
    uid: process.getuid?.() ?? -1,
    namespaces,
    userNamespacesAllowed:
      linux && readNumber('/proc/sys/user/max_user_namespaces', 0) > 0 && readNumber('/proc/sys/kernel/unprivileged_userns_clone', 1) !== 0,
    cgroups: linux ? findHierarchies() : [],
    seccomp:
      linux && (process.arch === 'x64' || process.arch === 'arm64') && readText('/proc/sys/kernel/seccomp/actions_avail').includes('errno'),
    bwrap: findExecutable('bwrap'),
  };
}

/** What `sandbox: true` cannot do without, each with how to get it. Cgroups are not among them: without them a pool warns. */
export function sandboxGaps(report: HostReport): { missing: string[]; hints: string[] } {
  const missing: string[] = [];
  const hints: string[] = [];
  if (report.platform !== 'linux') {
    return {
      missing: [`Linux namespaces (this host runs ${report.platform})`],
      hints: ['Run sessions on Linux, or pass sandbox: false knowing what an unsandboxed session can do.'],
    };
  }
  const absent = (['pid', 'net', 'mount', 'ipc', 'uts'] as const).filter((name) => !report.namespaces[name]);
  if (absent.length > 0) {
    missing.push(`${absent.join(', ')} namespaces`);
    hints.push('Use a kernel built with CONFIG_NAMESPACES and its PID, network, mount, IPC and UTS namespaces.');
  }
  if (report.uid !== 0 && !(report.namespaces.user && report.userNamespacesAllowed)) {
    missing.push('user namespaces for a non-root host');
    hints.push(
      'Allow unprivileged user namespaces (sysctl user.max_user_namespaces=15000 and kernel.unprivileged_userns_clone=1), or run the host as root.',
    );
  }
  if (!report.seccomp) {
    missing.push('seccomp-bpf');
    hints.push('Use an x86_64 or arm64 Linux kernel with CONFIG_SECCOMP_FILTER; in a container, allow seccomp (docs/security.md).');
  }
  if (report.bwrap === null) {
    missing.push('bubblewrap (bwrap)');
    hints.push('Install it: apt-get install bubblewrap (Debian, Ubuntu), dnf install bubblewrap (Fedora).');
  }
  return { missing, hints };
}

function findExecutable(name: string): string | null {
  for (const folder of (process.env.PATH ?? '').split(delimiter)) {
    const candidate = join(folder, name);
    if (folder !== '' && existsSync(candidate)) return candidate;
  }
  return null;
}

function readNumber(path: string, fallback: number): number {
  const text = readText(path).trim();
  return text === '' ? fallback : Number(text);
}
