import { once } from 'node:events';
import type { SessionPool, SessionPoolEvents } from '../../src/index.js';

/** The next `name` event of the pool that satisfies `matches`. */
export async function nextEvent<K extends keyof SessionPoolEvents>(
  pool: SessionPool,
  name: K,
  matches: (...args: SessionPoolEvents[K]) => boolean = () => true,
): Promise<SessionPoolEvents[K]> {
  return new Promise((resolve) => {
    const listener = (...args: SessionPoolEvents[K]): void => {
      if (!matches(...args)) return;
      (pool.off as (n: K, l: typeof listener) => void)(name, listener);
      resolve(args);
    };
    (pool.on as (n: K, l: typeof listener) => void)(name, listener);
  });
}

/** Resolves when the pool has `count` idle sessions, checking after every session becomes ready. */
export async function idleReaches(pool: SessionPool, count: number): Promise<void> {
  while (pool.metrics().idle < count) await once(pool, 'sessionReady');
}

/**
 * What `promise` has settled to once everything already due has run (one turn of the event loop),
 * or 'pending'. For asserting that something settled at once, without waiting for it.
 */
export async function settledNow<T>(promise: Promise<T>): Promise<T | 'pending'> {
  const pending = new Promise<'pending'>((resolve) => setImmediate(() => resolve('pending')));
  return Promise.race([promise, pending]);
}
