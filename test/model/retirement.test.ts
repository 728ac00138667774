/**
 * maxExecutionsPerSession on fake workers: the pool retires a session at release once the session
 * itself has run that many executions (the pool reads the count from the session's actor).
 */
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { SessionPool } from '../../src/index.js';
import { ModelClock } from './clock.js';
import { FakeWorld } from './fake-worker.js';

describe('retirement by execution count, on fakes', () => {
  it('keeps a session below maxExecutionsPerSession and retires it at the release that reaches it', async () => {
    const world = new FakeWorld();
    const pool = new SessionPool(
      { minIdle: 0, maxSessions: 1, maxExecutionsPerSession: 2, healthCheckIntervalMs: 0, logger: pino({ level: 'silent' }) },
      { processActor: world.processActor, clock: new ModelClock() },
    );
    const released: Array<{ sessionId: string; kept: boolean }> = [];
    pool.on('released', (event) => released.push(event));
    const first = await pool.acquire();
    await first.execute('ok');
    await first.release();
    const again = await pool.acquire();
    expect(again.id).toBe(first.id);
    await again.execute('ok');
    await again.release();
    expect(released).toEqual([
      { sessionId: first.id, kept: true },
      { sessionId: first.id, kept: false },
    ]);
    await pool.shutdown();
  });
});
