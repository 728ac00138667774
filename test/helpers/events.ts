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
