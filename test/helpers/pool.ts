import pino from 'pino';
import { afterEach, expect } from 'vitest';
import { SessionPool, type SessionPoolOptions } from '../../src/index.js';
import { processesMentioning } from './os.js';

const pools: SessionPool[] = [];

/** A pool that is shut down after the test, whatever the test did. */
export function makePool(options: SessionPoolOptions = {}): SessionPool {
  const pool = new SessionPool({ healthCheckIntervalMs: 0, logger: pino({ level: 'silent' }), ...options });
  pools.push(pool);
  return pool;
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
  expect(processesMentioning(pool.id).length).toBeLessThanOrEqual(m.total + m.stopping);
}

/** After shutdown, the OS shows no process of the pool. */
export function expectNoProcesses(pool: SessionPool): void {
  expect(processesMentioning(pool.id)).toEqual([]);
}
