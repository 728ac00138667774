import { describe, expect, it } from 'vitest';
import { AcquireTimeoutError, type Session } from '../src/index.js';
import { idleReaches } from './helpers/events.js';
import { isAlive } from './helpers/os.js';
import { expectConsistent, expectNoProcesses, makePool, sessionProcesses, SPAWN_MODES } from './helpers/pool.js';

/** The seed's acceptance table: the original pool hung on the third concurrent acquire. */
describe.each(SPAWN_MODES)('spawn %s', (mode) => {
  describe('concurrent acquisition (the original deadlock)', () => {
    it('grants 3 concurrent acquires with minIdle 2, maxSessions 5', async () => {
      const pool = makePool({ spawn: mode, minIdle: 2, maxSessions: 5 });
      await pool.start();
      const sessions = await Promise.all([pool.acquire(), pool.acquire(), pool.acquire()]);
      expect(new Set(sessions.map((s) => s.id)).size).toBe(3);
      for (const s of sessions) expect((await s.execute('1 + 1')).value).toBe('2');
      await Promise.all(sessions.map((s) => s.release()));
      expectConsistent(pool);
    });

    // How fast is the benchmarks' business (docs/benchmarks.md); here the test's timeout catches a hang.
    it('grants 5 concurrent acquires with minIdle 2, maxSessions 5', async () => {
      const pool = makePool({ spawn: mode, minIdle: 2, maxSessions: 5 });
      await pool.start();
      const sessions = await Promise.all(Array.from({ length: 5 }, () => pool.acquire()));
      expect(new Set(sessions.map((s) => s.pid)).size).toBe(5);
      await Promise.all(sessions.map((s) => s.release()));
    });

    it('runs 20 tasks on maxSessions 10 and the OS never shows more than 10 of its processes', async () => {
      const pool = makePool({ spawn: mode, minIdle: 0, maxSessions: 10 });
      let most = 0;
      const sample = (): void => {
        most = Math.max(most, sessionProcesses(pool).length);
      };
      const task = async (i: number): Promise<string | null> => {
        const session = await pool.acquire();
        sample();
        try {
          return (await session.execute(`${i} * 2`)).value;
        } finally {
          sample();
          await session.release();
        }
      };
      const values = await Promise.all(Array.from({ length: 20 }, (_, i) => task(i)));
      expect(values).toEqual(Array.from({ length: 20 }, (_, i) => String(i * 2)));
      expect(most).toBeGreaterThan(0);
      expect(most).toBeLessThanOrEqual(10);
      expect(pool.metrics().created).toBeLessThanOrEqual(10);
      expectConsistent(pool);
    });

    it('with 10 acquires on maxSessions 3 and none released: 3 granted, 7 time out, books balanced', async () => {
      const pool = makePool({ spawn: mode, minIdle: 0, maxSessions: 3 });
      const outcomes = await Promise.allSettled(Array.from({ length: 10 }, () => pool.acquire({ timeoutMs: 1_500 })));
      const granted = outcomes.filter((o) => o.status === 'fulfilled');
      const failed = outcomes.filter((o): o is PromiseRejectedResult => o.status === 'rejected');
      expect(granted).toHaveLength(3);
      expect(failed).toHaveLength(7);
      for (const f of failed) expect(f.reason).toBeInstanceOf(AcquireTimeoutError);
      const m = pool.metrics();
      expect(m.waiting).toBe(0);
      expect(m.timeouts).toBe(7);
      expect(m.busy).toBe(3);
      expectConsistent(pool);
    });
  });

  describe('warmup', () => {
    it('runs warmupCode in every session before it is granted', async () => {
      const pool = makePool({ spawn: mode, minIdle: 2, maxSessions: 3, warmupCode: 'import json\nWARMED = True' });
      await pool.start();
      const sessions = await Promise.all([pool.acquire(), pool.acquire(), pool.acquire()]);
      for (const s of sessions) {
        const r = await s.execute('WARMED, json.dumps([1])');
        expect(r.value).toBe("(True, '[1]')");
        // Warmup is not a user execution.
        expect(r.executionCount).toBe(1);
      }
    });
  });

  describe('cancellation', () => {
    it('an aborted acquire does not lose the session meant for it: it goes to the next waiter', async () => {
      const pool = makePool({ spawn: mode, minIdle: 1, maxSessions: 1 });
      const holder = await pool.acquire();
      const controller = new AbortController();
      const aborted = pool.acquire({ signal: controller.signal });
      const next = pool.acquire();
      controller.abort();
      await expect(aborted).rejects.toMatchObject({ name: 'AbortError' });
      await holder.release();
      const session = await next;
      expect(session.id).toBe(holder.id);
      expect(pool.metrics()).toMatchObject({ total: 1, busy: 1, waiting: 0 });
      await session.release();
      expect(pool.metrics()).toMatchObject({ total: 1, idle: 1 });
    });

    it('an acquire aborted with nobody else waiting leaves the released session idle', async () => {
      const pool = makePool({ spawn: mode, minIdle: 1, maxSessions: 1 });
      const holder = await pool.acquire();
      const controller = new AbortController();
      const aborted = pool.acquire({ signal: controller.signal });
      controller.abort(new Error('changed my mind'));
      await expect(aborted).rejects.toThrow('changed my mind');
      await holder.release();
      expect(pool.metrics()).toMatchObject({ total: 1, idle: 1, busy: 0, waiting: 0 });
      const again: Session = await pool.acquire({ timeoutMs: 1_000 });
      expect(again.id).toBe(holder.id);
    });

    it('an already aborted signal rejects at once without touching the pool', async () => {
      const pool = makePool({ spawn: mode, minIdle: 0, maxSessions: 1 });
      await expect(pool.acquire({ signal: AbortSignal.abort() })).rejects.toMatchObject({ name: 'AbortError' });
      expect(pool.metrics().acquisitions).toBe(0);
    });
  });

  describe('shutdown', () => {
    it('leaves no Python process of the pool alive, asked of the OS', async () => {
      const pool = makePool({ spawn: mode, minIdle: 3, maxSessions: 4 });
      await pool.start();
      const held = await pool.acquire();
      const started = await held.execute('import subprocess; child = subprocess.Popen(["sleep", "60"]); child.pid');
      const grandchild = Number(started.value);
      expect(isAlive(grandchild)).toBe(true);
      // The acquire made the pool start a fourth session to keep three idle: count once it is up.
      await idleReaches(pool, 3);
      expect(sessionProcesses(pool).length).toBe(4);
      await pool.shutdown();
      expectNoProcesses(pool);
      expect(isAlive(grandchild)).toBe(false);
      expect(pool.metrics()).toMatchObject({ total: 0, stopping: 0, waiting: 0 });
    });
  });
});
