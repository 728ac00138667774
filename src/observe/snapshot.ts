import type { SessionPhase } from '../../machines/pool.ledger.js';
import type { TemplateStatus } from '../../machines/pool.machine.js';
import type { PoolMetrics } from '../types.js';

/** A plain, JSON-serialisable picture of a pool at one moment. Times are epoch milliseconds. */
export interface PoolSnapshot {
  id: string;
  /** new: not started yet. */
  state: 'new' | 'open' | 'closing' | 'closed';
  capacity: { minIdle: number; maxSessions: number; used: number };
  metrics: PoolMetrics;
  /** Present in spawn mode 'fork'. */
  template: { status: TemplateStatus; pid: number | null } | null;
  sessions: SessionSnapshot[];
  waiters: WaiterSnapshot[];
}

export interface SessionSnapshot {
  id: string;
  phase: SessionPhase;
  /** The session machine's state, e.g. 'ready.idle' or 'busy.running'. */
  state: string;
  pid: number | null;
  /** The acquire (waiter id) that holds it, while leased. */
  holder: string | null;
  leasedSince: number | null;
  idleSince: number | null;
  createdAt: number;
  ageMs: number;
  executions: number;
  lastError: string | null;
}

export interface WaiterSnapshot {
  id: string;
  since: number;
  deadline: number | null;
}

interface SessionTimes {
  createdAt: number;
  holder: string | null;
  leasedSince: number | null;
  idleSince: number | null;
}

/**
 * When things happened to each session, learnt from the pool's events. The machine keeps no
 * clock (it stays pure); the snapshot's times come from here.
 */
export class SessionTimeline {
  readonly #sessions = new Map<string, SessionTimes>();

  spawned(sessionId: string): void {
    this.#sessions.set(sessionId, { createdAt: Date.now(), holder: null, leasedSince: null, idleSince: null });
  }

  idle(sessionId: string): void {
    const times = this.#sessions.get(sessionId);
    if (times === undefined) return;
    times.holder = null;
    times.leasedSince = null;
    times.idleSince = Date.now();
  }

  leased(sessionId: string, holder: string): void {
    const times = this.#sessions.get(sessionId);
    if (times === undefined) return;
    times.holder = holder;
    times.leasedSince = Date.now();
    times.idleSince = null;
  }

  ended(sessionId: string): void {
    this.#sessions.delete(sessionId);
  }

  get(sessionId: string): SessionTimes | undefined {
    return this.#sessions.get(sessionId);
  }
}

/** 'busy.running' from { busy: 'running' }. */
export function stateName(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value === null || typeof value !== 'object') return String(value);
  return Object.entries(value)
    .map(([key, child]) => `${key}.${stateName(child)}`)
    .join(',');
}
