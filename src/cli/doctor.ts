import { randomUUID } from 'node:crypto';
import { PoolCgroups } from '../sandbox/cgroups.js';
import { probeHost, sandboxGaps } from '../sandbox/probe.js';

/** `pyrepl3 doctor`: what this host offers for sandboxing, and what `sandbox: true` will do here. */
export async function doctor(json: boolean): Promise<number> {
  const report = probeHost();
  const { missing, hints } = sandboxGaps(report);
  // A trial pool cgroup, removed at once, says whether this process may make cgroups (root or delegation).
  const trial = report.platform === 'linux' ? await PoolCgroups.create(`doctor-${randomUUID()}`, null, report.cgroups) : null;
  await trial?.remove();
  const cgroupControllers = trial ? ['memory', 'pids', 'cpu'].filter((c) => !trial.missing.includes(c)) : [];
  if (json) {
    process.stdout.write(`${JSON.stringify({ ...report, cgroupControllers, missing, hints }, null, 2)}\n`);
    return missing.length === 0 ? 0 : 1;
  }
  const yes = (value: boolean): string => (value ? 'yes' : 'no');
  const lines = [
    `host: ${report.platform} ${report.arch}, uid ${report.uid}${report.uid === 0 ? ' (root)' : ''}`,
    `namespaces: ${Object.entries(report.namespaces)
      .map(([name, ok]) => `${name} ${yes(ok)}`)
      .join(', ')}; unprivileged user namespaces allowed: ${yes(report.userNamespacesAllowed)}`,
    `cgroups: ${report.cgroups.map((h) => `v${h.version} ${h.mount} [${h.controllers.join(' ') || 'no controllers'}]`).join('; ') || 'none mounted'}`,
    `cgroups this process can make for sessions: ${cgroupControllers.join(', ') || 'none'}${cgroupControllers.length < 3 ? ' (not root, or no delegated subtree: limits then hold per process)' : ''}`,
    `seccomp-bpf: ${yes(report.seccomp)}`,
    `bubblewrap: ${report.bwrap ?? 'not installed'}`,
    '',
    missing.length === 0
      ? `sandbox: true will run each session in PID, mount, network, IPC and UTS namespaces of its own${report.uid === 0 ? '' : ' (in a user namespace)'}, ` +
        `as ${report.uid === 0 ? 'an unprivileged uid of its own' : `uid ${report.uid}`}, with no capabilities, no_new_privs and a seccomp filter; ` +
        `exec'd sessions through bubblewrap, forked ones by the worker itself.`
      : `sandbox: true will fail with SandboxUnavailableError. Missing: ${missing.join('; ')}.`,
    ...hints,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  return missing.length === 0 ? 0 : 1;
}
