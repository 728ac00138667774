/**
 * A SessionPool under observation: every acquire, lease and execution it hands out is recorded,
 * and the invariants of issue 4 are checked at every pool event (they are emitted synchronously,
 * inside the supervisor's transitions) and whenever a test asks.
 */
import type { SessionPool } from '../../src/index.js';
import type { Session } from '../../src/session.js';
import { booksDisagree } from '../helpers/books.js';

export type Outcome = 'pending' | 'granted' | 'timeout' | 'aborted' | 'closed' | 'startFailed' | 'rejected';

export interface Waiter {
  id: string;
  n: number;
  outcome: Outcome;
  /** The promise settled (the caller saw the outcome). */
  settled: boolean;
  abort: AbortController | null;
}

export interface Lease {
  session: Session;
  waiterId: string;
  released: boolean;
}

export class PoolHarness {
  readonly waiters: Waiter[] = [];
  readonly leases: Lease[] = [];
  readonly executions: Array<{ settled: boolean; label: string; sessionId: string }> = [];
  /** Waiters the machine holds, by what it emitted: added just before ACQUIRE is sent. */
  readonly machineWaiting = new Set<string>();
  /** sessionId -> waiterId for every session granted and not yet back (released or dead). */
  readonly holders = new Map<string, string>();
  readonly dead = new Set<string>();
  readonly violations: string[] = [];
  readonly log: string[] = [];
  shutdownCalled = false;
  closedEmitted = false;
  /**
   * The pool's counters as its callers and listeners saw them happen: acquires that reached it,
   * those granted before acquire() returned (served from an idle session), acquire deadlines that
   * ran out, sessions that became ready, starts that failed, and sessions that died without being
   * stopped by the pool while it was open (after they had started: a failed start is a creation failure).
   */
  readonly seen = { acquisitions: 0, poolHits: 0, timeouts: 0, created: 0, creationFailures: 0, died: 0 };
  /** The waiter whose acquire() call is running now. */
  #acquiring: string | null = null;
  #serial = 0;

  constructor(
    readonly pool: SessionPool,
    readonly maxSessions: number,
  ) {
    pool.on('granted', ({ waiterId, sessionId }) => {
      this.log.push(`granted ${waiterId} ${sessionId}`);
      const n = Number(waiterId.slice(1));
      for (const other of this.machineWaiting) {
        if (Number(other.slice(1)) < n) this.fail(`FIFO: ${waiterId} granted ${sessionId} while older ${other} still waits`);
      }
      this.machineWaiting.delete(waiterId);
      if (waiterId === this.#acquiring) this.seen.poolHits++;
      const holder = this.holders.get(sessionId);
      if (holder !== undefined) this.fail(`double grant: ${sessionId} granted to ${waiterId} while ${holder} holds it`);
      if (this.dead.has(sessionId)) this.fail(`granted a dead session: ${sessionId} to ${waiterId}`);
      this.holders.set(sessionId, waiterId);
      this.checkCounts(`at grant of ${sessionId}`);
    });
    pool.on('acquireFailed', ({ waiterId, reason }) => {
      this.log.push(`acquireFailed ${waiterId} ${reason}`);
      this.machineWaiting.delete(waiterId);
      if (reason === 'timeout') this.seen.timeouts++;
    });
    pool.on('released', ({ sessionId, kept }) => {
      this.log.push(`released ${sessionId} kept=${kept}`);
      this.holders.delete(sessionId);
    });
    pool.on('sessionDied', ({ sessionId, phase, cause }) => {
      this.log.push(`died ${sessionId} ${phase} ${cause.kind}`);
      if (phase !== 'starting' && cause.kind !== 'stopped' && !this.shutdownCalled) this.seen.died++;
      this.dead.add(sessionId);
      this.holders.delete(sessionId);
    });
    pool.on('sessionSpawned', ({ sessionId }) => {
      this.log.push(`spawned ${sessionId}`);
      this.checkCounts(`at spawn of ${sessionId}`);
    });
    pool.on('sessionReady', () => this.seen.created++);
    pool.on('spawnFailed', () => this.seen.creationFailures++);
    pool.on('closed', () => {
      this.closedEmitted = true;
    });
  }

  fail(message: string): void {
    this.violations.push(message);
  }

  checkCounts(where: string): void {
    const m = this.pool.metrics();
    for (const problem of booksDisagree(this.pool)) this.fail(`${where}: ${problem}`);
    if (m.total + m.stopping > this.maxSessions)
      this.fail(`${where}: total ${m.total} + stopping ${m.stopping} > maxSessions ${this.maxSessions}`);
  }

  /** The pool's counters against what its callers saw happen; only for a pool every acquire of which went through acquire() here. */
  checkCounters(where: string): void {
    const m = this.pool.metrics();
    const counted = {
      acquisitions: m.acquisitions,
      poolHits: m.poolHits,
      timeouts: m.timeouts,
      created: m.created,
      creationFailures: m.creationFailures,
      died: m.died,
    };
    const seen = { ...this.seen };
    if (JSON.stringify(counted) !== JSON.stringify(seen))
      this.fail(`${where}: the pool counts ${JSON.stringify(counted)}, its callers saw ${JSON.stringify(seen)}`);
    if (m.poolMisses !== m.acquisitions - m.poolHits)
      this.fail(`${where}: ${m.poolMisses} misses, not acquisitions ${m.acquisitions} - hits ${m.poolHits}`);
  }

  /** The consistency the pool owes at every point between events. */
  check(where: string): void {
    this.checkCounts(where);
    const m = this.pool.metrics();
    if (m.waiting !== this.machineWaiting.size)
      this.fail(`${where}: pool says ${m.waiting} waiting, its events say ${this.machineWaiting.size}`);
    if (m.busy !== this.holders.size) this.fail(`${where}: pool says ${m.busy} busy, ${this.holders.size} granted and not back`);
  }

  acquire(options: { timeoutMs?: number; abortable?: boolean }): Waiter {
    const abort = options.abortable ? new AbortController() : null;
    const reachesMachine = !this.shutdownCalled;
    const waiter: Waiter = {
      id: reachesMachine ? `w${++this.#serial}` : 'refused',
      n: this.#serial,
      outcome: 'pending',
      settled: false,
      abort,
    };
    this.waiters.push(waiter);
    if (reachesMachine) {
      this.machineWaiting.add(waiter.id);
      this.seen.acquisitions++;
    }
    this.log.push(`acquire ${waiter.id} timeout=${options.timeoutMs ?? 'none'}${abort ? ' abortable' : ''}`);
    this.#acquiring = waiter.id;
    const acquired = this.pool.acquire({
      ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
      ...(abort ? { signal: abort.signal } : {}),
    });
    this.#acquiring = null;
    acquired.then(
      (session) => {
        waiter.outcome = 'granted';
        waiter.settled = true;
        this.leases.push({ session, waiterId: waiter.id, released: false });
      },
      (error: Error) => {
        waiter.settled = true;
        waiter.outcome =
          error.name === 'AcquireTimeoutError'
            ? 'timeout'
            : error.name === 'SessionStartError'
              ? 'startFailed'
              : error.name === 'AbortError' || abort?.signal.aborted
                ? 'aborted'
                : error.name === 'PoolClosedError'
                  ? 'closed'
                  : 'rejected';
      },
    );
    return waiter;
  }

  /** Leases not yet given back whose session the pool has not buried. */
  liveLeases(): Lease[] {
    return this.leases.filter((l) => !l.released);
  }

  release(lease: Lease, destroy = false): void {
    lease.released = true;
    this.log.push(`${destroy ? 'destroy' : 'release'} ${lease.session.id}`);
    void (destroy ? lease.session.destroy() : lease.session.release());
  }

  execute(lease: Lease, code: string, timeoutMs?: number): void {
    const record = { settled: false, label: `${lease.session.id} ${code}`, sessionId: lease.session.id };
    this.executions.push(record);
    this.log.push(`execute ${lease.session.id} ${code} timeout=${timeoutMs ?? 'none'}`);
    lease.session.execute(code, timeoutMs !== undefined ? { timeoutMs } : {}).then(
      () => (record.settled = true),
      () => (record.settled = true),
    );
  }

  /** Shuts the pool down; it stops every session at once, leased ones included (their leases end). */
  shutdown(): Promise<void> {
    const first = !this.shutdownCalled;
    this.shutdownCalled = true;
    if (first) this.log.push('shutdown');
    const closing = this.pool.shutdown();
    if (first) this.holders.clear();
    return closing;
  }

  /** Executions that have not settled. */
  unsettledExecutions(): string[] {
    return this.executions.filter((e) => !e.settled).map((e) => e.label);
  }

  pendingAcquires(): Waiter[] {
    return this.waiters.filter((w) => !w.settled);
  }
}

/** Lets every settled promise's callbacks run. */
export const flushMicrotasks = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * Releases scheduled tasks one at a time (the scheduler picks which) until `done()` holds or
 * nothing is left to release; every microtask settles between two releases. True if `done()`.
 */
export async function runUntil(s: { count(): number; waitOne(): Promise<void> }, done: () => boolean): Promise<boolean> {
  for (;;) {
    await flushMicrotasks();
    if (done()) return true;
    if (s.count() === 0) return false;
    await s.waitOne();
  }
}
