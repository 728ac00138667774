import pino from 'pino';
import { afterEach, expect } from 'vitest';
import { SessionPool, type PoolRuntime, type SessionPoolOptions } from '../../src/index.js';
import { booksDisagree } from './books.js';
import { cgroupsNamed, commandLine, processesMentioning, processName } from './os.js';

/** The core and hardening suites run once per way of starting sessions. */
export const SPAWN_MODES = ['exec', 'fork'] as const;

const pools: SessionPool[] = [];

/** A pool that is shut down after the test, whatever the test did. */
export function makePool(options: SessionPoolOptions = {}, runtime: PoolRuntime = {}): SessionPool {
  const pool = new SessionPool({ healthCheckIntervalMs: 0, logger: pino({ level: 'silent' }), ...options }, runtime);
  pools.push(pool);
  return pool;
}

/**
 * The pool's session processes, asked of the OS. In spawn 'fork', its template and the spare it
 * keeps forked ahead of demand are not sessions: started as `--template`, a process of the template
 * is a session only once it has named itself one (see /proc/PID/comm); before the template has
 * named itself, its name is the interpreter's.
 */
export function sessionProcesses(pool: SessionPool): number[] {
  return processesMentioning(pool.id).filter((pid) => !commandLine(pid).includes(' --template ') || processName(pid) === 'pyrepl3-session');
}

afterEach(async () => {
  const ended = pools.splice(0);
  await Promise.all(ended.map((pool) => pool.shutdown()));
  // A sandboxed pool's cgroups are gone once it has shut down.
  for (const pool of ended) expect(cgroupsNamed(pool.id)).toEqual([]);
});

/**
 * The pool's counters agree with its records, every session it counts as live has its process
 * (asked of the OS), and the OS shows no session process of the pool beyond those it accounts for.
 */
export function expectConsistent(pool: SessionPool): void {
  expect(booksDisagree(pool)).toEqual([]);
  const { metrics, sessions } = pool.snapshot();
  const os = sessionProcesses(pool);
  const live = sessions.filter((s) => s.phase === 'idle' || s.phase === 'leased');
  expect(
    live.filter((s) => s.pid === null || !os.includes(s.pid)).map((s) => `${s.id} (pid ${s.pid})`),
    'live sessions without their process',
  ).toEqual([]);
  expect(os.length).toBeLessThanOrEqual(metrics.total + metrics.stopping);
}

/** After shutdown, the OS shows no process of the pool. */
export function expectNoProcesses(pool: SessionPool): void {
  expect(processesMentioning(pool.id)).toEqual([]);
}
