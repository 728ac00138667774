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
  it('getNextSnapshot on a live pool\'s snapshot leases its session in that pool\'s books, though nobody was granted it', () => {
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
