/**
 * The pool of the original deadlock (minIdle 2, maxSessions 5) serves 3, 5 and 50 concurrent
 * acquirers in every order fast-check's scheduler generates: every acquirer gets a session, runs
 * code on it and gives it back; no session is ever held twice; nothing is left waiting.
 */
import fc from 'fast-check';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { SessionPool } from '../../src/index.js';
import { ModelClock } from './clock.js';
import { budget, fcParams } from './config.js';
import { FakeWorld } from './fake-worker.js';
import { PoolHarness, runUntil } from './harness.js';

describe('minIdle 2, maxSessions 5 serves concurrent acquirers in every generated order', () => {
  for (const [callers, runs] of [
    [3, 100],
    [5, 100],
    [50, 20],
  ] as const) {
    it(
      `${callers} concurrent acquirers`,
      async () => {
        await fc.assert(
          fc.asyncProperty(fc.scheduler(), fc.boolean(), async (s, warmup) => {
            const world = new FakeWorld((label, event) => void s.schedule(Promise.resolve(label), label).then(event));
            const clock = new ModelClock();
            const pool = new SessionPool(
              {
                minIdle: 2,
                maxSessions: 5,
                acquireTimeoutMs: Infinity,
                healthCheckIntervalMs: 0,
                logger: pino({ level: 'silent' }),
                ...(warmup ? { warmupCode: 'w' } : {}),
              },
              { processActor: world.processActor, clock },
            );
            const h = new PoolHarness(pool, 5);
            let finished = 0;
            let concurrent = 0;
            let peak = 0;
            const caller = async (i: number): Promise<void> => {
              await s.schedule(Promise.resolve(), `caller ${i} starts`);
              const session = await pool.acquire();
              concurrent++;
              peak = Math.max(peak, concurrent);
              // A scheduled task must not wait on another one: schedule the step, then take it.
              await s.schedule(Promise.resolve(), `caller ${i} executes`);
              await session.execute(`x = ${i}`);
              concurrent--;
              await s.schedule(Promise.resolve(), `caller ${i} releases`);
              await session.release();
              finished++;
            };
            void Promise.all(Array.from({ length: callers }, (_, i) => caller(i)));
            await runUntil(s, () => finished === callers && s.count() === 0);
            const report = `\nviolations: ${h.violations.join('; ')}\nlog:\n  ${h.log.join('\n  ')}`;
            expect(finished, report).toBe(callers);
            expect(peak, report).toBeLessThanOrEqual(5);
            expect(h.violations, report).toEqual([]);
            h.check('all served');
            expect(pool.metrics().waiting).toBe(0);
            expect(pool.metrics().busy).toBe(0);
            expect(h.violations, report).toEqual([]);
            let closed = false;
            void pool.shutdown().then(() => (closed = true));
            expect(await runUntil(s, () => closed)).toBe(true);
            expect(world.alive()).toEqual([]);
            expect(pool.metrics().total + pool.metrics().stopping).toBe(0);
          }),
          fcParams(runs, 0.5),
        );
      },
      budget(runs, 200, 0.5),
    );
  }
});
