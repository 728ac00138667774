/**
 * The back-off between failed starts, timed on the model clock: after the nth failure in a row no
 * spawn happens until exactly the delay of the table has passed (100 ms doubling to 10 s), and a
 * success resets it. The emitted `retryInMs` alone proves nothing: a pool could announce a delay
 * and retry at once.
 */
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { SessionPool } from '../../src/index.js';
import { ModelClock } from './clock.js';
import { FakeWorld } from './fake-worker.js';
import { flushMicrotasks } from './harness.js';

/** The delay after 1, 2, 3… failures in a row: written out, not computed. */
const DELAYS = [100, 200, 400, 800, 1600, 3200, 6400, 10_000, 10_000];

function failingPool() {
  const world = new FakeWorld();
  const clock = new ModelClock();
  const pool = new SessionPool(
    { minIdle: 1, maxSessions: 1, healthCheckIntervalMs: 0, logger: pino({ level: 'silent' }) },
    { processActor: world.processActor, clock },
  );
  let spawns = 0;
  pool.on('sessionSpawned', () => spawns++);
  return { world, clock, pool, spawns: () => spawns };
}

/** Lets the delay run out one millisecond short, then the last millisecond: one spawn, not before. */
async function expectRetryAfter(r: ReturnType<typeof failingPool>, delay: number): Promise<void> {
  const before = r.spawns();
  r.clock.advance(delay - 1);
  await flushMicrotasks();
  expect(r.spawns(), `no spawn ${delay - 1} ms into a ${delay} ms back-off`).toBe(before);
  r.clock.advance(1);
  await flushMicrotasks();
  expect(r.spawns(), `a spawn once ${delay} ms have passed`).toBe(before + 1);
}

describe('spawn back-off on the model clock', () => {
  it('waits 100 ms, doubling to 10 s, between failed starts, and starts over after a success', async () => {
    const r = failingPool();
    r.world.failingSpawns = DELAYS.length;
    void r.pool.start().catch(() => undefined);
    await flushMicrotasks();
    expect(r.spawns()).toBe(1);
    for (const delay of DELAYS) await expectRetryAfter(r, delay);
    // The last retry worked: the next failure waits the first delay again.
    expect(r.pool.metrics().idle).toBe(1);
    r.world.failingSpawns = 1;
    const s = await r.pool.acquire();
    await s.destroy();
    await flushMicrotasks();
    await expectRetryAfter(r, DELAYS[0]!);
    await r.pool.shutdown();
  });
});
