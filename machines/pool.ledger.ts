/**
 * The pool's bookkeeping: which sessions exist and in which phase, which are idle, who waits.
 *
 * Only the pool machine touches it, and only inside its synchronous transitions, so nothing else
 * can observe it half-updated. Its collections are mutated in place on purpose: copying the waiter
 * queue on every event made each acquire cost O(waiters) (see docs/architecture.md). Every snapshot
 * of a pool actor holds the same ledger, so the pool machine's transitions are not pure.
 */

/** starting: spawning or warming. idle: ready, in no one's hands. leased: granted to a caller.
 *  stopping: being killed; it still holds its slot until its process has exited. */
export type SessionPhase = 'starting' | 'idle' | 'leased' | 'stopping';

export interface SessionRecord {
  id: string;
  phase: SessionPhase;
  /** Set when a retirement rule fired while the session was leased: it goes when it comes back. */
  retireOnRelease: boolean;
  /** An idle-timeout timer runs for it (only sessions idle beyond minIdle have one). */
  idleTimerArmed: boolean;
}

export interface Waiter {
  id: string;
  hasDeadline: boolean;
}

export interface PoolCounters {
  acquisitions: number;
  /** Acquires served at once from an idle session. */
  poolHits: number;
  /** Acquires that had to wait. */
  poolMisses: number;
  timeouts: number;
  created: number;
  creationFailures: number;
  /** Sessions that died unexpectedly (crash, killed, failed health check). */
  died: number;
}

export interface Grant {
  waiter: Waiter;
  session: SessionRecord;
}

export class Ledger {
  readonly sessions = new Map<string, SessionRecord>();
  /** Idle session ids; the most recently used is last, so the hottest session is reused first. */
  readonly idle: string[] = [];
  /** Waiting acquires by id. Add them with addWaiter(); any can leave at once (timeout, abort). */
  readonly waiters = new Map<string, Waiter>();
  /**
   * Waiter ids in arrival order, read from #head. Ids of waiters that left stay until the head
   * passes them, so every removal and every lookup of the oldest is O(1) amortised. (Asking a Map
   * for its first entry is not: it walks over every entry deleted since it last compacted.)
   */
  #arrivals: string[] = [];
  #head = 0;
  readonly phaseCounts: Record<SessionPhase, number> = { starting: 0, idle: 0, leased: 0, stopping: 0 };
  readonly counters: PoolCounters = {
    acquisitions: 0,
    poolHits: 0,
    poolMisses: 0,
    timeouts: 0,
    created: 0,
    creationFailures: 0,
    died: 0,
  };
  /** Start failures in a row; drives the spawn backoff. */
  consecutiveFailures = 0;
  /** True while a backoff delay after a start failure runs: no spawns until it ends. */
  spawnPaused = false;
  #sessionSerial = 0;

  /** Every session that holds a slot, stopping ones included. */
  get occupied(): number {
    return this.sessions.size;
  }

  addStarting(): string {
    const id = `s${++this.#sessionSerial}`;
    this.sessions.set(id, { id, phase: 'starting', retireOnRelease: false, idleTimerArmed: false });
    this.phaseCounts.starting++;
    return id;
  }

  setPhase(record: SessionRecord, phase: SessionPhase): void {
    if (record.phase === 'idle') this.#removeIdle(record.id);
    this.phaseCounts[record.phase]--;
    record.phase = phase;
    this.phaseCounts[phase]++;
    if (phase === 'idle') this.idle.push(record.id);
  }

  remove(record: SessionRecord): void {
    if (record.phase === 'idle') this.#removeIdle(record.id);
    this.phaseCounts[record.phase]--;
    this.sessions.delete(record.id);
  }

  addWaiter(waiter: Waiter): void {
    this.waiters.set(waiter.id, waiter);
    this.#arrivals.push(waiter.id);
  }

  /** Pairs the oldest waiters with idle sessions until one side runs out. */
  takeGrants(): Grant[] {
    const grants: Grant[] = [];
    while (this.waiters.size > 0 && this.idle.length > 0) {
      const waiter = this.oldestWaiter()!;
      const session = this.sessions.get(this.idle[this.idle.length - 1]!)!;
      this.waiters.delete(waiter.id);
      this.setPhase(session, 'leased');
      grants.push({ waiter, session });
    }
    return grants;
  }

  oldestWaiter(): Waiter | undefined {
    while (this.#head < this.#arrivals.length) {
      const waiter = this.waiters.get(this.#arrivals[this.#head]!);
      if (waiter !== undefined) {
        this.#compact();
        return waiter;
      }
      this.#head++;
    }
    this.#arrivals = [];
    this.#head = 0;
    return undefined;
  }

  /** Drops the ids the head has passed, once they are most of the array (amortised O(1)). */
  #compact(): void {
    if (this.#head < 1024 || this.#head * 2 < this.#arrivals.length) return;
    this.#arrivals = this.#arrivals.slice(this.#head);
    this.#head = 0;
  }

  /** How many sessions to start now: enough for every waiter plus minIdle, within maxSessions. */
  spawnsNeeded(minIdle: number, maxSessions: number): number {
    if (this.spawnPaused) return 0;
    const demand = this.waiters.size + minIdle - this.phaseCounts.idle - this.phaseCounts.starting;
    const room = maxSessions - this.occupied;
    return Math.max(0, Math.min(demand, room));
  }

  #removeIdle(id: string): void {
    const index = this.idle.lastIndexOf(id);
    if (index !== -1) this.idle.splice(index, 1);
  }
}
