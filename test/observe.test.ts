import { PassThrough } from 'node:stream';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import type { AnyActorRef, InspectionEvent } from 'xstate';
import { nextEvent } from './helpers/events.js';
import { makePool } from './helpers/pool.js';

describe('seeing the pool work', () => {
  it('passes the inspect observer to the supervisor and every session actor', async () => {
    const seen = new Set<string>();
    const pool = makePool({
      minIdle: 2,
      maxSessions: 2,
      inspect: (event: InspectionEvent) => {
        if (event.type === '@xstate.event') seen.add(`${(event.actorRef as AnyActorRef).id}:${event.event.type}`);
      },
    });
    await pool.start();
    const s = await pool.acquire();
    await s.execute('1 + 1');
    await s.release();
    expect([...seen].some((entry) => /:ACQUIRE$/.test(entry))).toBe(true);
    expect(seen.has(`${s.id}:EXECUTE`)).toBe(true);
    expect(seen.has(`${s.id}:process.result`)).toBe(true);
  });

  it('snapshot() is a plain JSON picture of sessions, waiters, capacity and counters', async () => {
    const pool = makePool({ minIdle: 1, maxSessions: 1 });
    expect(pool.snapshot().state).toBe('new');
    await pool.start();
    const held = await pool.acquire();
    await held.execute('1 / 0');
    const waiting = pool.acquire({ timeoutMs: 10_000 });
    const snapshot = pool.snapshot();
    expect(JSON.parse(JSON.stringify(snapshot))).toEqual(snapshot);
    expect(snapshot).toMatchObject({
      id: pool.id,
      state: 'open',
      capacity: { minIdle: 1, maxSessions: 1, used: 1 },
      metrics: { total: 1, busy: 1, waiting: 1 },
      template: null,
    });
    expect(snapshot.sessions).toEqual([
      expect.objectContaining({
        id: held.id,
        phase: 'leased',
        state: 'ready.idle',
        pid: held.pid,
        holder: 'w1',
        idleSince: null,
        executions: 1,
        lastError: 'ZeroDivisionError: division by zero',
      }),
    ]);
    const [waiter] = snapshot.waiters;
    expect(waiter?.id).toBe('w2');
    expect(waiter!.deadline! - waiter!.since).toBe(10_000);
    await held.release();
    const next = await waiting;
    await next.release();
    expect(pool.snapshot().sessions[0]).toMatchObject({ phase: 'idle', holder: null, idleSince: expect.any(Number) });
  });

  it('trace() keeps the last traceSize supervisor events, oldest first', async () => {
    const pool = makePool({ minIdle: 1, maxSessions: 1, traceSize: 4 });
    await pool.start();
    for (let i = 0; i < 3; i++) {
      const s = await pool.acquire();
      await s.release();
    }
    const trace = pool.trace();
    expect(trace.map((entry) => entry.event.type)).toEqual(['ACQUIRE', 'RELEASE', 'ACQUIRE', 'RELEASE']);
    expect(trace.map((entry) => entry.event.waiterId ?? entry.event.sessionId)).toEqual(['w2', 's1', 'w3', 's1']);
    for (let i = 1; i < trace.length; i++) expect(trace[i]!.at).toBeGreaterThanOrEqual(trace[i - 1]!.at);
    expect(makePool().trace()).toEqual([]);
  });

  it('warns with the stack of the acquire when a lease outlives leaseWarningMs, and counts it', async () => {
    const lines = new PassThrough();
    const pool = makePool({ minIdle: 1, maxSessions: 1, leaseWarningMs: 100, logger: pino({ level: 'warn' }, lines) });
    const warned = new Promise<Record<string, unknown>>((resolve) => {
      lines.on('data', (line: Buffer) => {
        const entry = JSON.parse(line.toString()) as Record<string, unknown>;
        if (String(entry.msg).includes('leaseWarningMs')) resolve(entry);
      });
    });
    const s = await pool.acquire();
    const entry = await warned;
    expect(entry).toMatchObject({ sessionId: s.id, heldMs: 100 });
    expect(String(entry.acquiredAt)).toContain('observe.test.ts');
    expect(pool.metrics().leaseWarnings).toBe(1);
    await s.release();
  });

  it('emits typed events that hosts can feed into their own monitoring', async () => {
    const pool = makePool({ minIdle: 1, maxSessions: 1 });
    const ready = nextEvent(pool, 'sessionReady');
    await pool.start();
    const [{ sessionId, pid }] = await ready;
    const granted = nextEvent(pool, 'granted');
    const s = await pool.acquire();
    expect((await granted)[0]).toEqual({ waiterId: 'w1', sessionId });
    expect(s.pid).toBe(pid);
    const timedOut = nextEvent(pool, 'waiterTimedOut');
    await expect(pool.acquire({ timeoutMs: 50 })).rejects.toThrow();
    expect((await timedOut)[0]).toEqual({ waiterId: 'w2' });
    const released = nextEvent(pool, 'released');
    await s.release();
    expect((await released)[0]).toEqual({ sessionId, kept: true });
  });
});
