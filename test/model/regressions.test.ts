/**
 * Shrunk schedules the models found, kept as regression tests. Both bugs are fixed in the machines:
 * a session refuses EXECUTE at once unless it is ready (bug 1), and one that leaves ready on its own
 * tells the pool (`session.stopping`), which stops granting it before anyone can take it (bug 2).
 */
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { SessionPool } from '../../src/index.js';
import { ModelClock } from './clock.js';
import { FakeWorld, HeldDeliveries } from './fake-worker.js';
import { flushMicrotasks } from './harness.js';

function fakePool(options: ConstructorParameters<typeof SessionPool>[0]) {
  const held = new HeldDeliveries();
  const world = new FakeWorld(held.deliver);
  const clock = new ModelClock();
  const pool = new SessionPool(
    { logger: pino({ level: 'silent' }), healthCheckIntervalMs: 0, ...options },
    { processActor: world.processActor, clock },
  );
  return { world, clock, pool, held };
}

describe('regressions found by the models', () => {
  // BUG (schedules.fake.test.ts, seed -955446943, path "167:3:3:13:17:14:14:14:14:14:14:14:14:14"),
  // shrunk schedule: minIdle 0, maxSessions 1, warmupCode set; acquire() -> granted s1; shutdown();
  // session.execute('ok'); (s1 exit delivered); interrupt; release.
  // Broken invariant: every call settles. shutdown() moves the leased s1 to `stopping`; the
  // SessionLink still sees an active actor and sends EXECUTE, which `stopping` ignores; when s1
  // dies, `failCurrentExecution` has no `current` execution to fail, so the promise hangs forever.
  it('execute on a leased session the pool is stopping settles (rejects) instead of hanging', async () => {
    const { pool, held } = fakePool({ minIdle: 0, maxSessions: 1, warmupCode: 'warm' });
    const acquired = pool.acquire();
    held.release((label) => label === 's1 ready' || label === 's1 result ok');
    const session = await acquired;
    const closed = pool.shutdown();
    // The kill is sent; the process's exit has not been reported yet.
    expect(held.items.map((i) => i.label)).toEqual(['s1 exit']);
    let settled = false;
    void session.execute('ok').then(
      () => (settled = true),
      () => (settled = true),
    );
    held.release(() => true);
    await closed;
    await flushMicrotasks();
    expect(settled).toBe(true);
  });

  // BUG 2 (schedules.fake.test.ts, seed -171585352, path "14461:2:9:8:8:8:8"), shrunk schedule:
  // minIdle 2, maxSessions 2; advance(5000) — a health tick pings s1 and s2 and their pongs are late,
  // so both ping timeouts fire and both sessions go to `stopping` (healthCheckFailed); s2's exit is
  // reported, s1's is not yet; acquire() -> the pool, which still books s1 as idle, grants s1;
  // execute('ok') on s1 -> dropped by `stopping`; s1 dies (phase leased) -> the promise never settles.
  // Broken invariants: a granted session is alive (ready) when granted; every call settles.
  it('a session that failed its health check is not granted, and an execute on it settles', async () => {
    const { pool, held, clock } = fakePool({ minIdle: 1, maxSessions: 1, healthCheckIntervalMs: 700, pingTimeoutMs: 200 });
    void pool.start();
    held.release((label) => label === 's1 ready');
    clock.advance(700); // the health tick pings s1; its pong is held back
    clock.advance(200); // the ping times out: s1 stops itself; its exit is held back
    expect(held.items.map((i) => i.label)).toEqual(['s1 pong', 's1 exit']);
    let granted: string | null = null;
    pool.on('granted', ({ sessionId }) => (granted = sessionId));
    const acquired = pool.acquire({ timeoutMs: 1000 }).catch(() => null);
    // The pool should not hand out s1, which is already stopping.
    expect(granted).toBe(null);
    let settled = false;
    void acquired.then((session) =>
      session?.execute('ok').then(
        () => (settled = true),
        () => (settled = true),
      ),
    );
    await flushMicrotasks();
    held.release(() => true);
    await flushMicrotasks();
    held.release(() => true);
    await flushMicrotasks();
    expect(settled).toBe(true);
  });
});
