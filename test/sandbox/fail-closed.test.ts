import { describe, expect, it } from 'vitest';
import { SandboxUnavailableError } from '../../src/index.js';
import { probeHost, type HostReport } from '../../src/sandbox/probe.js';
import { processesMentioning } from '../helpers/os.js';
import { makePool, SPAWN_MODES } from '../helpers/pool.js';

/** This host's real report with one thing taken away. */
function hostWithout(change: Partial<HostReport>): () => HostReport {
  return () => ({ ...probeHost(), ...change });
}

const GAPS: Array<[string, Partial<HostReport>, RegExp]> = [
  ['bubblewrap', { bwrap: null }, /bubblewrap \(bwrap\).*apt-get install bubblewrap/],
  [
    'PID and network namespaces',
    { namespaces: { user: true, pid: false, net: false, mount: true, ipc: true, uts: true } },
    /pid, net namespaces.*CONFIG_NAMESPACES/,
  ],
  ['seccomp', { seccomp: false }, /seccomp-bpf.*CONFIG_SECCOMP_FILTER/],
  [
    'user namespaces on a non-root host',
    { uid: 1000, userNamespacesAllowed: false },
    /user namespaces for a non-root host.*unprivileged_userns_clone/,
  ],
  ['Linux', { platform: 'darwin' }, /Linux namespaces \(this host runs darwin\)/],
];

describe.each(SPAWN_MODES)('a host that cannot build the sandbox, spawn %s', (mode) => {
  it.each(GAPS)(
    'without %s: start() and acquire() reject with SandboxUnavailableError naming it, and no process starts',
    async (_name, change, message) => {
      const pool = makePool({ spawn: mode, sandbox: true, minIdle: 1 }, { sandboxProbe: hostWithout(change) });
      const started = await pool.start().then(
        () => null,
        (error: unknown) => error,
      );
      expect(started).toBeInstanceOf(SandboxUnavailableError);
      expect((started as Error).message).toMatch(message);
      await expect(pool.acquire()).rejects.toBeInstanceOf(SandboxUnavailableError);
      expect(processesMentioning(pool.id)).toEqual([]);
    },
  );
});

describe('requireCgroups', () => {
  it('refuses a pool whose sessions would get no cgroups, rather than run them on rlimits alone', async () => {
    const pool = makePool({ sandbox: { requireCgroups: true, cgroupRoot: '/cgroup.procs/not-a-folder' }, minIdle: 1 });
    const error = await pool.start().then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(SandboxUnavailableError);
    expect((error as Error).message).toMatch(/cgroups for memory, pids, cpu/);
    expect(processesMentioning(pool.id)).toEqual([]);
  });

  it('without it, the pool warns and its sessions still run sandboxed', async () => {
    const pool = makePool({ sandbox: { cgroupRoot: '/cgroup.procs/not-a-folder' }, minIdle: 1 });
    const warnings: string[][] = [];
    pool.on('sandboxWarning', ({ missingControllers }) => warnings.push(missingControllers));
    const session = await pool.acquire();
    expect(warnings).toEqual([['memory', 'pids', 'cpu']]);
    expect(Number((await session.execute('import os\nos.getuid()')).value)).toBeGreaterThan(0);
  });
});
