import type { SnapshotFrom } from 'xstate';
import type { SessionPhase } from '../../machines/pool.ledger.js';
import type { poolMachine, TemplateStatus } from '../../machines/pool.machine.js';
import type { SessionActorRef } from '../session-link.js';
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

interface PoolParts {
  id: string;
  running: boolean;
  /** shutdown() was called: a graceful shutdown's grace counts as closing, though the supervisor is still open. */
  shuttingDown: boolean;
  supervisor: SnapshotFrom<typeof poolMachine>;
  metrics: PoolMetrics;
  timeline: SessionTimeline;
  lastErrorOf: (sessionId: string) => string | null;
  waiterSince: (waiterId: string) => { since: number; timeoutMs: number | null } | undefined;
  templatePid: number | null;
}

/** The picture pool.snapshot() returns, from the supervisor's books and the bridge's clocks. */
export function describePool(parts: PoolParts): PoolSnapshot {
  const { supervisor, metrics } = parts;
  const { ledger, config, template } = supervisor.context;
  const now = Date.now();
  const children = supervisor.children as Record<string, SessionActorRef | undefined>;
  const sessions = [...ledger.sessions.values()].map((record): SessionSnapshot => {
    const times = parts.timeline.get(record.id);
    const child = children[record.id]?.getSnapshot();
    const createdAt = times?.createdAt ?? now;
    return {
      id: record.id,
      phase: record.phase,
      state: child ? stateName(child.value) : 'dead',
      pid: child?.context.pid ?? null,
      holder: times?.holder ?? null,
      leasedSince: times?.leasedSince ?? null,
      idleSince: times?.idleSince ?? null,
      createdAt,
      ageMs: now - createdAt,
      executions: child?.context.executions ?? 0,
      lastError: parts.lastErrorOf(record.id),
    };
  });
  const waiters = [...ledger.waiters.keys()].map((id): WaiterSnapshot => {
    const waiter = parts.waiterSince(id);
    const since = waiter?.since ?? now;
    return { id, since, deadline: waiter?.timeoutMs != null ? since + waiter.timeoutMs : null };
  });
  const state = !parts.running
    ? 'new'
    : supervisor.status === 'done'
      ? 'closed'
      : parts.shuttingDown
        ? 'closing'
        : (stateName(supervisor.value).split('.')[0] as 'open' | 'closing');
  return {
    id: parts.id,
    state,
    capacity: { minIdle: config.minIdle, maxSessions: config.maxSessions, used: metrics.total + metrics.stopping },
    metrics,
    template: template === 'none' ? null : { status: template, pid: parts.templatePid },
    sessions,
    waiters,
  };
}
