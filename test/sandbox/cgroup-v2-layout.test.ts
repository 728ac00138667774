import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PoolCgroups } from '../../src/sandbox/cgroups.js';

/**
 * This machine binds memory, pids and cpu to cgroup v1 (its v2 mount has none of them), so the v2
 * layout is checked on a folder shaped like a delegated cgroup2 tree: which files get which values.
 * The real kernel's v1 controllers, and v2's cgroup.kill, are exercised in hostile.test.ts.
 */
describe('cgroup v2 layout', () => {
  it('enables the controllers down to the pool, writes memory.max, memory.swap.max and pids.max, and reads oom_kill and usage_usec', async () => {
    const mount = mkdtempSync(join(tmpdir(), 'pyrepl3-cgroup2-'));
    const poolDir = join(mount, 'delegated/pyrepl3/pool-1');
    mkdirSync(poolDir, { recursive: true });
    // What the kernel would show: controllers offered at each level once the parent enables them.
    for (const dir of [join(mount, 'delegated'), join(mount, 'delegated/pyrepl3'), poolDir])
      writeFileSync(join(dir, 'cgroup.controllers'), 'cpu io memory pids\n');
    const pool = await PoolCgroups.create('pool-1', '/delegated/pyrepl3', [
      { version: 2, mount, controllers: ['cpu', 'io', 'memory', 'pids'] },
    ]);
    expect(pool.missing).toEqual([]);
    expect(readFileSync(join(mount, 'delegated/pyrepl3/cgroup.subtree_control'), 'utf8')).toBe('+memory +pids +cpu');

    const session = await pool.session({ memoryBytes: 1234, maxProcesses: 7 });
    const sessionDir = join(poolDir, readdirSync(poolDir).find((name) => name.startsWith('s-'))!);
    expect(readFileSync(join(sessionDir, 'memory.max'), 'utf8')).toBe('1234');
    expect(readFileSync(join(sessionDir, 'memory.swap.max'), 'utf8')).toBe('0');
    expect(readFileSync(join(sessionDir, 'pids.max'), 'utf8')).toBe('7');
    expect(session.oomKilled()).toBe(false);
    writeFileSync(join(sessionDir, 'memory.events'), 'low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n');
    expect(session.oomKilled()).toBe(true);
    writeFileSync(join(sessionDir, 'cpu.stat'), 'usage_usec 2500000\nuser_usec 2000000\n');
    expect(session.cpuSeconds()).toBe(2.5);
  });
});
