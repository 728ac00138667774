import pino from 'pino';
import { SessionPool, type SessionPoolOptions } from '../src/index.js';

export const pyreplLogger = pino({ level: 'silent' });

/** A SessionPool as the suite uses it: silent, no health checks, started. */
export async function startPool(options: SessionPoolOptions = {}): Promise<SessionPool> {
  const pool = new SessionPool({ healthCheckIntervalMs: 0, logger: pyreplLogger, ...options });
  try {
    await pool.start();
  } catch (error) {
    await pool.shutdown();
    throw error;
  }
  return pool;
}

/** Runs fn with a started pool and always shuts the pool down (every process exits). */
export async function withPool<T>(options: SessionPoolOptions, fn: (pool: SessionPool) => Promise<T>): Promise<T> {
  const pool = await startPool(options);
  try {
    return await fn(pool);
  } finally {
    await pool.shutdown();
  }
}
