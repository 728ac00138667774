import pino from 'pino';
import { afterEach, expect } from 'vitest';
import { SessionPool, type SessionPoolOptions } from '../../src/index.js';
import { commandLine, parentOf, processesMentioning } from './os.js';

/** The core and hardening suites run once per way of starting sessions. */
export const SPAWN_MODES = ['exec', 'fork'] as const;

const pools: SessionPool[] = [];

/** A pool that is shut down after the test, whatever the test did. */
export function makePool(options: SessionPoolOptions = {}): SessionPool {
  const pool = new SessionPool({ healthCheckIntervalMs: 0, logger: pino({ level: 'silent' }), ...options });
  pools.push(pool);
  return pool;
}

/**
 * The pool's session processes, asked of the OS. Its fork template, if any, is left out: the one
 * process with '--template' on its command line that this process started (its forked sessions
 * share that command line, but the template is their parent).
 */
export function sessionProcesses(pool: SessionPool): number[] {
  return processesMentioning(pool.id).filter((pid) => !(commandLine(pid).includes('--template') && parentOf(pid) === process.pid));
}

afterEach(async () => {
  await Promise.all(pools.splice(0).map((pool) => pool.shutdown()));
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
