/**
 * What the exported poolMachine does to the snapshot it is given. Its ledger is one mutable object
 * that every snapshot of an actor shares (machines/pool.ledger.ts says why), so computing a
 * transition with getNextSnapshot changes the books of the snapshot passed in — and, for a live
 * actor's snapshot, that actor's books. These tests pin that documented behaviour: if transitions
 * become pure, they fail, and the TSDoc on poolMachine and docs/architecture.md must change with them.
 */
import { createActor, getInitialSnapshot, getNextSnapshot, type SnapshotFrom } from 'xstate';
import { describe, expect, it } from 'vitest';
import { poolMachine, type PoolConfig, type PoolEmitted } from '../../machines/pool.machine.js';
import type { SessionOutput } from '../../machines/session.machine.js';
import type { DeathCause, StopReason } from '../../machines/session.types.js';
import { ModelClock } from '../model/clock.js';

const CONFIG: PoolConfig = {
  minIdle: 1,
  maxSessions: 1,
  healthCheckIntervalMs: 0,
  releasePolicy: 'keep',
  maxExecutionsPerSession: null,
  maxSessionAgeMs: null,
  idleTimeoutMs: null,
  backoff: { initialMs: 100, maxMs: 1000 },
  spawn: 'exec',
  // The session machine's own process stub starts nothing: s1 stays 'spawning' until told otherwise.
  session: { warmupCode: null, timings: { startTimeoutMs: 1e9, warmupTimeoutMs: 1e9, pingTimeoutMs: 1e9, interruptGraceMs: 1e9 } },
};

/** A running pool whose one session, s1, is idle. */
function livePool() {
  const actor = createActor(poolMachine, { input: CONFIG });
  const emitted: PoolEmitted[] = [];
  actor.on('*', (event) => emitted.push(event));
  actor.start();
  actor.send({ type: 'session.ready', sessionId: 's1', pid: 1 });
  return { actor, emitted };
}

const books = (snapshot: SnapshotFrom<typeof poolMachine>) => ({
  ...snapshot.context.ledger.phaseCounts,
  idle: [...snapshot.context.ledger.idle],
  waiting: snapshot.context.ledger.waiters.size,
  acquisitions: snapshot.context.ledger.counters.acquisitions,
});

describe('poolMachine with getNextSnapshot: the ledger is mutable and shared', () => {
  it("getNextSnapshot on a live pool's snapshot leases its session in that pool's books, though nobody was granted it", () => {
    const { actor, emitted } = livePool();
    const live = actor.getSnapshot();
    expect(books(live)).toEqual({ starting: 0, idle: ['s1'], leased: 0, stopping: 0, waiting: 0, acquisitions: 0 });
    const grantsBefore = emitted.filter((e) => e.type === 'granted').length;

    const next = getNextSnapshot(poolMachine, live, { type: 'ACQUIRE', waiterId: 'w1', timeoutMs: null });

    expect(next.context.ledger).toBe(live.context.ledger);
    expect(books(live)).toEqual({ starting: 0, idle: [], leased: 1, stopping: 0, waiting: 0, acquisitions: 1 });
    // The running actor now books s1 as leased and refuses the next acquirer an idle session…
    expect(books(actor.getSnapshot())).toEqual(books(live));
    actor.send({ type: 'ACQUIRE', waiterId: 'w2', timeoutMs: null });
    expect(actor.getSnapshot().context.ledger.waiters.has('w2')).toBe(true);
    // …while the actor itself granted nothing: the grant went to a caller that does not exist.
    expect(emitted.filter((e) => e.type === 'granted').length).toBe(grantsBefore);
    actor.stop();
  });

  it('getNextSnapshot changes the snapshot it is given even when no actor runs it', () => {
    const initial = getInitialSnapshot(poolMachine, CONFIG);
    // The pool opened: s1 is starting, nobody waits.
    expect(books(initial)).toEqual({ starting: 1, idle: [], leased: 0, stopping: 0, waiting: 0, acquisitions: 0 });
    const next = getNextSnapshot(poolMachine, initial, { type: 'ACQUIRE', waiterId: 'w1', timeoutMs: null });
    expect(books(initial)).toEqual({ starting: 1, idle: [], leased: 0, stopping: 0, waiting: 1, acquisitions: 1 });
    expect(books(next)).toEqual(books(initial));
  });
});

/**
 * The pool machine driven by hand, on the model clock: sessions are its own session children, whose
 * default process starts nothing; the test says when each is ready or ends, as its process would.
 */
function pool(overrides: Partial<PoolConfig> = {}) {
  const clock = new ModelClock();
  const actor = createActor(poolMachine, { input: { ...CONFIG, ...overrides }, clock });
  const emitted: PoolEmitted[] = [];
  actor.on('*', (event) => emitted.push(event));
  actor.start();
  const ledger = () => actor.getSnapshot().context.ledger;
  return {
    actor,
    clock,
    emitted,
    ledger,
    /** Emitted since the last call. */
    fresh: (() => {
      let seen = 0;
      return () => {
        const since = emitted.slice(seen);
        seen = emitted.length;
        return since;
      };
    })(),
    ready: (sessionId: string) => actor.send({ type: 'session.ready', sessionId, pid: 100 + Number(sessionId.slice(1)) }),
    acquire: (waiterId: string, timeoutMs: number | null = null) => actor.send({ type: 'ACQUIRE', waiterId, timeoutMs }),
    release: (sessionId: string) => actor.send({ type: 'RELEASE', sessionId }),
    /** The session's actor ended with this output (what the pool hears when its process has exited). */
    ended: (sessionId: string, output: SessionOutput) => actor.send({ type: `xstate.done.actor.${sessionId}`, output } as never),
    /** Why the pool stopped the session, as the session's own context records it (null: not stopped). */
    stopReason: (sessionId: string) => {
      const child = actor.getSnapshot().children[sessionId] as { getSnapshot(): { context: { cause: DeathCause | null } } } | undefined;
      const cause = child?.getSnapshot().context.cause ?? null;
      return cause?.kind === 'stopped' ? cause.reason : null;
    },
    phase: (sessionId: string) => ledger().sessions.get(sessionId)?.phase ?? 'gone',
    /** Durations of the pool's own pending timers (the sessions' huge deadlines left out). */
    timers: () => clock.pending().filter((ms) => ms < 1e9 / 2),
  };
}

const EXITED: SessionOutput = { cause: { kind: 'exited', exitCode: 1, signal: null }, exit: { exitCode: 1, signal: null } };
const stopped = (reason: StopReason): SessionOutput => ({
  cause: { kind: 'stopped', reason },
  exit: { exitCode: null, signal: 'SIGKILL' },
});

describe('the pool machine on its own', () => {
  it('retires a session idle beyond minIdle after idleTimeoutMs, never one of the first minIdle, and a grant disarms the timer', () => {
    const p = pool({ minIdle: 1, maxSessions: 2, idleTimeoutMs: 500 });
    p.ready('s1');
    expect(p.timers()).toEqual([]);
    p.acquire('w1');
    p.ready('s2');
    expect(p.timers()).toEqual([]);
    // s1 comes back: two idle, one beyond minIdle.
    p.release('s1');
    expect(p.timers()).toEqual([500]);
    // Granted again (the most recently used first): its idle timer goes.
    p.acquire('w2');
    expect(p.emitted.at(-1)).toEqual({ type: 'granted', waiterId: 'w2', sessionId: 's1' });
    expect(p.timers()).toEqual([]);
    p.release('s1');
    p.clock.advance(499);
    expect(p.phase('s1')).toBe('idle');
    p.clock.advance(1);
    expect(p.phase('s1')).toBe('stopping');
    expect(p.stopReason('s1')).toBe('retired');
    expect(p.phase('s2')).toBe('idle');
  });

  it("with no idle timeout, sessions idle beyond minIdle stay; with one, each idle session's timer goes when it is granted", () => {
    const never = pool({ minIdle: 1, maxSessions: 2, idleTimeoutMs: null });
    never.ready('s1');
    never.acquire('w1');
    never.ready('s2');
    never.release('s1');
    expect(never.timers()).toEqual([]);
    expect(never.ledger().idle).toEqual(['s2', 's1']);

    const p = pool({ minIdle: 1, maxSessions: 3, idleTimeoutMs: 500 });
    p.ready('s1');
    p.acquire('w1');
    p.acquire('w2');
    p.ready('s2');
    p.ready('s3');
    p.release('s1');
    p.release('s2');
    expect(p.ledger().idle).toEqual(['s3', 's1', 's2']);
    expect(p.timers()).toEqual([500, 500]);
    p.acquire('w3');
    p.acquire('w4');
    expect(p.timers()).toEqual([]);
  });

  it('keeps a session whose idle timer fires when no more than minIdle sessions are idle by then', () => {
    const p = pool({ minIdle: 1, maxSessions: 2, idleTimeoutMs: 500 });
    p.ready('s1');
    p.acquire('w1');
    p.ready('s2');
    p.release('s1');
    // s2 idle without a timer, s1 idle beyond minIdle with one; then s2's process dies.
    expect(p.timers()).toEqual([500]);
    p.ended('s2', EXITED);
    expect(p.ledger().idle).toEqual(['s1']);
    p.clock.advance(500);
    expect(p.phase('s1')).toBe('idle');
    expect(p.stopReason('s1')).toBe(null);
  });

  it('a session coming back stays when nothing retires it, and goes with the reason that does', () => {
    // (Retirement by maxExecutionsPerSession counts the session's own executions: test/api.test.ts runs it on a real session.)
    const keep = pool({ maxExecutionsPerSession: 2 });
    keep.ready('s1');
    keep.acquire('w1');
    keep.fresh();
    keep.release('s1');
    expect(keep.fresh()).toEqual([{ type: 'released', sessionId: 's1', kept: true }]);

    const recycle = pool({ releasePolicy: 'recycle' });
    recycle.ready('s1');
    recycle.acquire('w1');
    recycle.release('s1');
    expect(recycle.stopReason('s1')).toBe('recycled');

    const destroy = pool();
    destroy.ready('s1');
    destroy.acquire('w1');
    destroy.actor.send({ type: 'DESTROY', sessionId: 's1' });
    expect(destroy.stopReason('s1')).toBe('destroyed');
  });

  it('a session that ages while leased is retired when it comes back; one that ages while idle, at once', () => {
    const p = pool({ minIdle: 2, maxSessions: 2, maxSessionAgeMs: 1000 });
    p.ready('s1');
    p.clock.advance(10);
    p.ready('s2');
    p.acquire('w1');
    expect(p.emitted.at(-1)).toEqual({ type: 'granted', waiterId: 'w1', sessionId: 's2' });
    p.clock.advance(990);
    // s1, idle, is 1000 ms old: it goes now.
    expect(p.stopReason('s1')).toBe('retired');
    expect(p.phase('s2')).toBe('leased');
    p.clock.advance(10);
    expect(p.phase('s2')).toBe('leased');
    p.fresh();
    p.release('s2');
    expect(p.fresh()[0]).toEqual({ type: 'released', sessionId: 's2', kept: false });
    expect(p.stopReason('s2')).toBe('retired');
  });

  it('a session that died leaves no timer of its own behind', () => {
    const p = pool({ minIdle: 1, maxSessions: 2, maxSessionAgeMs: 1000, idleTimeoutMs: 500 });
    p.ready('s1');
    p.acquire('w1');
    p.ready('s2');
    p.release('s1');
    expect(p.timers().sort()).toEqual([1000, 1000, 500]);
    p.ended('s1', EXITED);
    p.ended('s2', EXITED);
    // Their replacement is starting; it has no timer yet.
    expect(p.timers()).toEqual([]);
  });

  it('a leased session that stopped on its own is not made idle when its holder gives it back', () => {
    const p = pool();
    p.ready('s1');
    p.acquire('w1');
    p.actor.send({ type: 'session.stopping', sessionId: 's1' });
    expect(p.phase('s1')).toBe('stopping');
    p.fresh();
    p.release('s1');
    expect(p.fresh()).toEqual([]);
    expect(p.phase('s1')).toBe('stopping');
  });

  it('a starting session that gives up stays starting, so that its end counts as a failed start', () => {
    const p = pool();
    p.actor.send({ type: 'session.stopping', sessionId: 's1' });
    expect(p.phase('s1')).toBe('starting');
    p.fresh();
    p.ended('s1', { cause: { kind: 'startTimeout', timeoutMs: 5 }, exit: null });
    expect(p.fresh().map((e) => e.type)).toEqual(['sessionDied', 'spawnFailed']);
  });

  it('tells an aborted or timed-out waiter why, and leaves no deadline of its behind', () => {
    const p = pool({ minIdle: 0, maxSessions: 3 });
    p.acquire('w1', 100);
    p.acquire('w2', 100);
    p.acquire('w3', null);
    p.fresh();
    expect(p.timers()).toEqual([100, 100]);
    p.actor.send({ type: 'CANCEL_WAITER', waiterId: 'w1' });
    expect(p.fresh()).toStrictEqual([{ type: 'acquireFailed', waiterId: 'w1', reason: 'aborted' }]);
    expect(p.timers()).toEqual([100]);
    p.clock.advance(100);
    expect(p.fresh()).toStrictEqual([{ type: 'acquireFailed', waiterId: 'w2', reason: 'timeout' }]);
    expect(p.ledger().counters.timeouts).toBe(1);
    // An expiry that comes for a waiter already gone changes nothing.
    p.actor.send({ type: 'WAITER_EXPIRED', waiterId: 'w1' });
    expect(p.fresh()).toEqual([]);
    expect(p.ledger().counters.timeouts).toBe(1);
    // A waiter granted before its deadline has no deadline left either.
    p.acquire('w4', 100);
    p.ready('s1');
    p.ready('s2');
    expect(p.timers()).toEqual([]);
  });

  it('a failed start tells the oldest waiter why, with the delay before the next spawn', () => {
    const p = pool({ minIdle: 0 });
    p.acquire('w1', null);
    p.acquire('w2', null);
    p.fresh();
    const cause: DeathCause = { kind: 'spawnFailed', message: 'no python' };
    p.ended('s1', { cause, exit: null });
    expect(p.fresh()).toStrictEqual([
      { type: 'sessionDied', sessionId: 's1', phase: 'starting', cause, exit: null },
      { type: 'spawnFailed', sessionId: 's1', cause, retryInMs: 100 },
      { type: 'acquireFailed', waiterId: 'w1', reason: 'startFailed', cause },
    ]);
    expect(p.timers()).toEqual([100]);
  });

  it('a session actor that fails is buried like a crash, with a protocol error naming the failure', () => {
    const p = pool();
    p.ready('s1');
    p.fresh();
    p.actor.send({ type: 'xstate.error.actor.s1', error: new Error('a bug') } as never);
    expect(p.fresh()[0]).toStrictEqual({
      type: 'sessionDied',
      sessionId: 's1',
      phase: 'idle',
      cause: { kind: 'protocolError', message: 'session actor failed: Error: a bug' },
      exit: null,
    });
    expect(p.ledger().counters.died).toBe(1);
  });

  it('reports about sessions it does not book change nothing', () => {
    const p = pool();
    p.ready('s1');
    p.fresh();
    const before = JSON.stringify({ phases: p.ledger().phaseCounts, counters: p.ledger().counters, idle: p.ledger().idle });
    p.ready('s1');
    p.ready('s7');
    p.ended('s7', EXITED);
    p.release('s7');
    p.actor.send({ type: 'session.stopping', sessionId: 's7' });
    p.actor.send({ type: 'SESSION_AGED', sessionId: 's7' });
    p.actor.send({ type: 'SESSION_IDLED', sessionId: 's7' });
    p.actor.send({ type: 'CANCEL_WAITER', waiterId: 'w7' });
    expect(p.fresh()).toEqual([]);
    expect(JSON.stringify({ phases: p.ledger().phaseCounts, counters: p.ledger().counters, idle: p.ledger().idle })).toBe(before);
    expect(p.actor.getSnapshot().status).toBe('active');
  });

  it('a late idle timer of a session granted since does not stop it', () => {
    const p = pool({ minIdle: 0, maxSessions: 2, idleTimeoutMs: 500 });
    p.acquire('w1');
    p.ready('s1');
    p.acquire('w2');
    p.ready('s2');
    p.release('s2');
    // s2 is idle beyond minIdle; s1, leased, hears an idle timer meant for an earlier idle spell.
    p.actor.send({ type: 'SESSION_IDLED', sessionId: 's1' });
    expect(p.phase('s1')).toBe('leased');
    expect(p.stopReason('s1')).toBe(null);
  });

  it('shutdown stops every session with reason shutdown, refuses acquires while it closes, and closes once all are gone', () => {
    const p = pool({ minIdle: 2, maxSessions: 2 });
    p.ready('s1');
    p.acquire('w1');
    p.acquire('w2', 100);
    p.actor.send({ type: 'SHUTDOWN' });
    expect([p.stopReason('s1'), p.stopReason('s2')]).toEqual(['shutdown', 'shutdown']);
    expect(p.timers()).toEqual([]);
    p.fresh();
    p.acquire('w3');
    expect(p.fresh()).toStrictEqual([{ type: 'acquireFailed', waiterId: 'w3', reason: 'closed' }]);
    p.ended('s1', stopped('shutdown'));
    expect(p.actor.getSnapshot().status).toBe('active');
    p.ended('s2', stopped('shutdown'));
    expect(p.fresh().at(-1)).toEqual({ type: 'closed' });
    expect(p.actor.getSnapshot().status).toBe('done');
  });
});

describe('the pool machine with a fork template', () => {
  const fork = (overrides: Partial<PoolConfig> = {}) => pool({ spawn: 'fork', ...overrides });
  const template = (p: ReturnType<typeof pool>) =>
    p.actor.getSnapshot().children.template as unknown as
      | { getSnapshot(): { value: unknown; context: { forkTimeoutMs: number; startTimeoutMs: number } } }
      | undefined;
  const spawnOf = (p: ReturnType<typeof pool>, id: string) =>
    (p.actor.getSnapshot().children[id] as unknown as { getSnapshot(): { context: { spawn: string } } }).getSnapshot().context.spawn;

  it('a pool that spawns with exec starts no template', () => {
    const p = pool({ spawn: 'exec' });
    expect(template(p)).toBeUndefined();
    expect(spawnOf(p, 's1')).toBe('exec');
  });

  it('starts its template with half the session start timeout to fork in, and spawns nothing until the template reports', () => {
    const p = fork({ session: { ...CONFIG.session, timings: { ...CONFIG.session.timings, startTimeoutMs: 8000 } } });
    expect(template(p)!.getSnapshot().context).toMatchObject({ startTimeoutMs: 8000, forkTimeoutMs: 4000 });
    expect(p.ledger().occupied).toBe(0);
  });

  it("passes the template's reports on, and forks sessions only while the template is up", () => {
    const p = fork({ minIdle: 1, maxSessions: 3 });
    p.fresh();
    p.actor.send({ type: 'template.up', pid: 77 });
    expect(p.fresh()).toEqual([
      { type: 'templateReady', pid: 77 },
      { type: 'sessionSpawned', sessionId: 's1' },
    ]);
    expect(spawnOf(p, 's1')).toBe('fork');
    p.actor.send({ type: 'template.down', reason: 'exited', retryInMs: 250 });
    expect(p.fresh()).toEqual([{ type: 'templateDown', reason: 'exited', retryInMs: 250 }]);
    p.acquire('w1');
    expect(spawnOf(p, 's2')).toBe('exec');
    p.fresh();
    p.actor.send({ type: 'template.unsafe', threads: 3 });
    expect(p.fresh()).toEqual([{ type: 'templateUnsafe', threads: 3 }]);
    p.acquire('w2');
    expect(spawnOf(p, 's3')).toBe('exec');
  });

  it('a template actor that fails while the pool is open is buried: the pool goes on with exec', () => {
    const p = fork({ minIdle: 1 });
    p.actor.send({ type: 'xstate.error.actor.template', error: new Error('a bug') } as never);
    expect(template(p)).toBeUndefined();
    expect(spawnOf(p, 's1')).toBe('exec');
    // Its shutdown then waits for the sessions only.
    p.actor.send({ type: 'SHUTDOWN' });
    p.ended('s1', stopped('shutdown'));
    expect(p.emitted.at(-1)).toEqual({ type: 'closed' });
  });

  it('stops the template last, once every session is gone', () => {
    const p = fork({ minIdle: 1 });
    p.actor.send({ type: 'template.up', pid: 77 });
    p.actor.send({ type: 'SHUTDOWN' });
    expect(template(p)!.getSnapshot().value).not.toEqual({ running: 'stopping' });
    p.ended('s1', stopped('shutdown'));
    expect(template(p)!.getSnapshot().value).toEqual({ running: 'stopping' });
  });
});
