import pino from 'pino';
import { afterEach, expect } from 'vitest';
import { SessionPool, type PoolRuntime, type SessionPoolOptions } from '../../src/index.js';
import { cgroupsNamed, processesMentioning, processName } from './os.js';

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
 * keeps forked ahead of demand are not sessions: they name themselves (see /proc/PID/comm).
 */
export function sessionProcesses(pool: SessionPool): number[] {
  return processesMentioning(pool.id).filter((pid) => !/^pyrepl3-(templat|spare)/.test(processName(pid)));
}

afterEach(async () => {
  const ended = pools.splice(0);
  await Promise.all(ended.map((pool) => pool.shutdown()));
  // A sandboxed pool's cgroups are gone once it has shut down.
  for (const pool of ended) expect(cgroupsNamed(pool.id)).toEqual([]);
});

/**
 * The accounting identity every consistent pool satisfies, and no Python process of the pool that
 * the pool does not account for (asked of the OS).
 */
export function expectConsistent(pool: SessionPool): void {
  const m = pool.metrics();
  expect(m.idle + m.busy + m.starting).toBe(m.total);
  expect(sessionProcesses(pool).length).toBeLessThanOrEqual(m.total + m.stopping);
}

/** After shutdown, the OS shows no process of the pool. */
export function expectNoProcesses(pool: SessionPool): void {
  expect(processesMentioning(pool.id)).toEqual([]);
}
