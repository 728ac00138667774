import pino from 'pino';
import { afterEach, expect } from 'vitest';
import { SessionPool, type SessionPoolOptions } from '../../src/index.js';
import { processesMentioning } from './os.js';

/** The core and hardening suites run once per way of starting sessions. */
export const SPAWN_MODES = ['exec', 'fork'] as const;

const pools: SessionPool[] = [];
const templatePids = new WeakMap<SessionPool, Set<number>>();

/** A pool that is shut down after the test, whatever the test did. */
export function makePool(options: SessionPoolOptions = {}): SessionPool {
  const pool = new SessionPool({ healthCheckIntervalMs: 0, logger: pino({ level: 'silent' }), ...options });
  const templates = new Set<number>();
  templatePids.set(pool, templates);
  pool.on('templateReady', ({ pid }) => templates.add(pid));
  pools.push(pool);
  return pool;
}

/** The pool's session processes, asked of the OS (its fork template, if any, left out). */
export function sessionProcesses(pool: SessionPool): number[] {
  const templates = templatePids.get(pool) ?? new Set<number>();
  return processesMentioning(pool.id).filter((pid) => !templates.has(pid));
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
