import { enqueueActions, setup, type ActorRefFrom, type EventObject } from 'xstate';
import { Ledger, type SessionRecord } from './pool.ledger.js';
import { sessionMachine, type SessionInput, type SessionOutput, type SessionReport } from './session.machine.js';
import { backoffDelay, type Backoff } from './backoff.js';
import type { DeathCause, ProcessExit, SpawnMode, StopReason } from './session.types.js';
import { TEMPLATE_SYSTEM_ID, templateMachine, type TemplateReport } from './template.machine.js';

/**
 * The supervisor. It owns capacity: the sessions it spawned and a FIFO queue of waiting acquires.
 *
 * Every transition is synchronous. A grant is an emitted event, a spawn is a child actor that
 * reports back with `session.ready` or, when it ends, its final output, a timeout is a delayed event. Capacity is
 * taken in the same transition that spawns, so sessions (starting and stopping ones included)
 * never exceed maxSessions, and no code path can wait while holding anything.
 */

export interface PoolConfig {
  minIdle: number;
  maxSessions: number;
  /** 0 turns health checks off. */
  healthCheckIntervalMs: number;
  releasePolicy: 'keep' | 'recycle';
  /** A session is retired (at release, never mid-execution) after this many executions; null: never. */
  maxExecutionsPerSession: number | null;
  /** A session is retired once this old (at release if leased); null: never. */
  maxSessionAgeMs: number | null;
  /** An idle session above minIdle is retired after this long unused; null: never. */
  idleTimeoutMs: number | null;
  /** Delay before the next spawn after consecutive start failures, and before a template restart. */
  backoff: Backoff;
  /** 'fork': sessions are forked from a warmed template process ('exec' while it is down or unsafe). */
  spawn: SpawnMode;
  session: Omit<SessionInput, 'id' | 'spawn'>;
}

/** none: spawn mode 'exec'. unsafe: the warmup started threads, so the pool stays on 'exec'. */
export type TemplateStatus = 'none' | 'starting' | 'ready' | 'down' | 'unsafe' | 'stopped';

export interface PoolContext {
  config: PoolConfig;
  ledger: Ledger;
  template: TemplateStatus;
}

export type PoolEvent =
  | { type: 'ACQUIRE'; waiterId: string; timeoutMs: number | null }
  | { type: 'CANCEL_WAITER'; waiterId: string }
  | { type: 'WAITER_EXPIRED'; waiterId: string }
  | { type: 'RELEASE'; sessionId: string }
  | { type: 'DESTROY'; sessionId: string }
  | { type: 'SHUTDOWN' }
  | { type: 'HEALTH_TICK' }
  | { type: 'SPAWN_RETRY' }
  | { type: 'SESSION_AGED'; sessionId: string }
  | { type: 'SESSION_IDLED'; sessionId: string }
  | SessionReport
  | TemplateReport;

export type AcquireFailure = 'timeout' | 'closed' | 'aborted' | 'startFailed';

export type PoolEmitted =
  | { type: 'granted'; waiterId: string; sessionId: string }
  /** kept: the session went back to the idle set (false: it is being stopped and replaced). */
  | { type: 'released'; sessionId: string; kept: boolean }
  | { type: 'acquireFailed'; waiterId: string; reason: AcquireFailure; cause?: DeathCause }
  | { type: 'sessionSpawned'; sessionId: string }
  | { type: 'sessionReady'; sessionId: string; pid: number }
  | { type: 'sessionDied'; sessionId: string; phase: SessionRecord['phase']; cause: DeathCause; exit: ProcessExit | null }
  | { type: 'spawnFailed'; sessionId: string; cause: DeathCause; retryInMs: number }
  | { type: 'templateReady'; pid: number }
  | { type: 'templateDown'; reason: string; retryInMs: number }
  | { type: 'templateUnsafe'; threads: number }
  | { type: 'closed' };

const HEALTH_TIMER = 'healthTick';
const SPAWN_RETRY_TIMER = 'spawnRetry';
const waiterTimer = (waiterId: string): string => `waiter:${waiterId}`;
const idleTimer = (sessionId: string): string => `idle:${sessionId}`;
const ageTimer = (sessionId: string): string => `age:${sessionId}`;

type SessionRef = ActorRefFrom<typeof sessionMachine>;

type PoolChildren =
  | { src: 'session'; logic: typeof sessionMachine; id: string | undefined }
  | { src: 'template'; logic: typeof templateMachine; id: string | undefined };
/** The `enqueue` of the pool's enqueueActions, which the helpers below write their effects to. */
type Enqueue = Parameters<
  Parameters<typeof enqueueActions<PoolContext, PoolEvent, undefined, PoolEvent, PoolChildren, never, never, never, PoolEmitted>>[0]
>[0]['enqueue'];

/** Hands idle sessions to the oldest waiters, then starts what demand and minIdle still call for. */
function settle(context: PoolContext, enqueue: Enqueue): void {
  const { ledger, config } = context;
  for (const { waiter, session } of ledger.takeGrants()) {
    if (waiter.hasDeadline) enqueue.cancel(waiterTimer(waiter.id));
    disarmIdleTimer(session, enqueue);
    enqueue.emit({ type: 'granted', waiterId: waiter.id, sessionId: session.id });
  }
  // The first sessions of a fork pool wait for its template: every later one then costs milliseconds.
  const spawns = context.template === 'starting' ? 0 : ledger.spawnsNeeded(config.minIdle, config.maxSessions);
  for (let i = 0; i < spawns; i++) {
    const sessionId = ledger.addStarting();
    const spawn = context.template === 'ready' ? 'fork' : 'exec';
    enqueue.spawnChild('session', { id: sessionId, input: { ...config.session, id: sessionId, spawn } });
    enqueue.emit({ type: 'sessionSpawned', sessionId });
  }
}

/**
 * Puts a session among the idle ones. One idle beyond minIdle is retired if it stays unused for
 * idleTimeoutMs; the first minIdle never are, so they need no timer (nor its cost per lease).
 */
function makeIdle(context: PoolContext, record: SessionRecord, enqueue: Enqueue): void {
  const { ledger, config } = context;
  ledger.setPhase(record, 'idle');
  if (config.idleTimeoutMs === null || ledger.phaseCounts.idle <= config.minIdle) return;
  record.idleTimerArmed = true;
  enqueue.raise({ type: 'SESSION_IDLED', sessionId: record.id }, { delay: config.idleTimeoutMs, id: idleTimer(record.id) });
}

function disarmIdleTimer(record: SessionRecord, enqueue: Enqueue): void {
  if (!record.idleTimerArmed) return;
  record.idleTimerArmed = false;
  enqueue.cancel(idleTimer(record.id));
}

/**
 * Why a session coming back must go instead of becoming idle, or null when it stays. How many
 * executions it has run is its own count, read from the child: by the time its holder releases it,
 * the session has ended its last execution (the release waits for that).
 */
function retirementAtRelease(
  event: Extract<PoolEvent, { type: 'RELEASE' | 'DESTROY' }>,
  record: SessionRecord,
  config: PoolConfig,
  session: SessionRef | undefined,
): StopReason | null {
  if (event.type === 'DESTROY') return 'destroyed';
  if (config.releasePolicy === 'recycle') return 'recycled';
  const max = config.maxExecutionsPerSession;
  const usedUp = max !== null && (session?.getSnapshot().context.executions ?? 0) >= max;
  return record.retireOnRelease || usedUp ? 'retired' : null;
}

/** The session is going (the pool stops it, or it stops on its own): it is granted no more. */
function markStopping(ledger: Ledger, record: SessionRecord, enqueue: Enqueue): void {
  disarmIdleTimer(record, enqueue);
  ledger.setPhase(record, 'stopping');
}

function stopSession(ledger: Ledger, record: SessionRecord, reason: StopReason, enqueue: Enqueue): void {
  markStopping(ledger, record, enqueue);
  enqueue.sendTo(record.id, { type: 'STOP', reason });
}

function failWaiter(ledger: Ledger, waiterId: string, reason: AcquireFailure, enqueue: Enqueue, cause?: DeathCause): void {
  const waiter = ledger.waiters.get(waiterId);
  if (waiter === undefined) return;
  ledger.waiters.delete(waiterId);
  if (waiter.hasDeadline) enqueue.cancel(waiterTimer(waiterId));
  enqueue.emit(cause === undefined ? { type: 'acquireFailed', waiterId, reason } : { type: 'acquireFailed', waiterId, reason, cause });
}

/** Removes a dead session from the books and from the actor tree. Returns the phase it was in. */
function buryDead(context: PoolContext, event: DeathReport, enqueue: Enqueue): SessionRecord['phase'] | null {
  const record = context.ledger.sessions.get(event.sessionId);
  if (record === undefined) return null;
  const phase = record.phase;
  context.ledger.remove(record);
  enqueue.stopChild(event.sessionId);
  // Its timers must not outlive it (a pending timer also keeps the host's event loop busy).
  disarmIdleTimer(record, enqueue);
  if (context.config.maxSessionAgeMs !== null) enqueue.cancel(ageTimer(record.id));
  enqueue.emit({ type: 'sessionDied', sessionId: event.sessionId, phase, cause: event.cause, exit: event.exit });
  return phase;
}

function onStartFailure(context: PoolContext, sessionId: string, cause: DeathCause, enqueue: Enqueue): void {
  const { ledger, config } = context;
  ledger.counters.creationFailures++;
  ledger.consecutiveFailures++;
  const retryInMs = backoffDelay(ledger.consecutiveFailures, config.backoff);
  enqueue.emit({ type: 'spawnFailed', sessionId, cause, retryInMs });
  // The oldest waiter learns why at once rather than waiting out its timeout; others wait for the retry.
  const oldest = ledger.oldestWaiter();
  if (oldest !== undefined) failWaiter(ledger, oldest.id, 'startFailed', enqueue, cause);
  ledger.spawnPaused = true;
  enqueue.cancel(SPAWN_RETRY_TIMER);
  enqueue.raise({ type: 'SPAWN_RETRY' }, { delay: retryInMs, id: SPAWN_RETRY_TIMER });
}

function scheduleHealthTick(context: PoolContext, enqueue: Enqueue): void {
  const interval = context.config.healthCheckIntervalMs;
  if (interval > 0) enqueue.raise({ type: 'HEALTH_TICK' }, { delay: interval, id: HEALTH_TIMER });
}

interface DeathReport extends SessionOutput {
  sessionId: string;
}

const DONE_PREFIX = 'xstate.done.actor.';
const ERROR_PREFIX = 'xstate.error.actor.';
const TEMPLATE_ID = 'template';

/** The id of the child actor an `xstate.done.actor.*` or `xstate.error.actor.*` event is about. */
function endedActorId(event: EventObject): string {
  return event.type.slice(event.type.startsWith(DONE_PREFIX) ? DONE_PREFIX.length : ERROR_PREFIX.length);
}

/**
 * A session reached its final state (its output says why), or a session actor threw. The second
 * is a bug in this library, not in user code; it is contained like a crash so the pool never fails.
 */
function deathReport(event: EventObject): DeathReport {
  const sessionId = endedActorId(event);
  if (event.type.startsWith(DONE_PREFIX)) return { sessionId, ...(event as EventObject & { output: SessionOutput }).output };
  const message = `session actor failed: ${String((event as { error?: unknown }).error)}`;
  return { sessionId, exit: null, cause: { kind: 'protocolError', message } };
}

/** What a report of the template changes: the pool's view of it, and what the pool tells listeners. */
function templateChange(event: PoolEvent): { template: TemplateStatus; emitted: PoolEmitted } | null {
  switch (event.type) {
    case 'template.up':
      return { template: 'ready', emitted: { type: 'templateReady', pid: event.pid } };
    case 'template.down':
      return { template: 'down', emitted: { type: 'templateDown', reason: event.reason, retryInMs: event.retryInMs } };
    case 'template.unsafe':
      return { template: 'unsafe', emitted: { type: 'templateUnsafe', threads: event.threads } };
    default:
      return null;
  }
}

/** The template stopped (at shutdown), or its actor failed: either way the pool forks no more. */
function buryTemplate(enqueue: Enqueue): void {
  enqueue.assign({ template: 'stopped' });
  enqueue.stopChild(TEMPLATE_ID);
}

/**
 * The pool supervisor's machine, exported for inspection and diagrams.
 *
 * Its transitions are not pure: `context.ledger` is one mutable object (machines/pool.ledger.ts),
 * shared by every snapshot of an actor, and the actions update it in place. So
 * `getNextSnapshot(poolMachine, snapshot, event)` changes `snapshot`'s books, and the snapshot it
 * returns holds the same ledger; given a running actor's snapshot, it changes that actor's books
 * (an ACQUIRE there books an idle session as leased though the actor granted it to no one).
 * Compute transitions only on a snapshot nothing else uses, such as one from
 * `getInitialSnapshot(poolMachine, config)`, and treat the snapshot passed in as used up.
 */
export const poolMachine = setup({
  types: {
    input: {} as PoolConfig,
    context: {} as PoolContext,
    events: {} as PoolEvent,
    emitted: {} as PoolEmitted,
  },
  actors: { session: sessionMachine, template: templateMachine },
  guards: {
    allSessionsGone: ({ context }) => context.ledger.occupied === 0,
    templateGone: ({ context }) => context.template === 'none' || context.template === 'stopped',
  },
  actions: {
    openPool: enqueueActions(({ context, enqueue }) => {
      const template = context.config.spawn === 'fork' ? 'starting' : 'none';
      if (template === 'starting') {
        const { startTimeoutMs, warmupTimeoutMs } = context.config.session.timings;
        // A session waiting for a late spare must have time left to start a new interpreter: with the
        // whole start timeout, a template that stopped forking failed every start (found by the schedules).
        const input = { backoff: context.config.backoff, startTimeoutMs, warmupTimeoutMs, forkTimeoutMs: startTimeoutMs / 2 };
        // Sessions' processes ask it for spares by its system id (TEMPLATE_SYSTEM_ID).
        enqueue.spawnChild('template', { id: TEMPLATE_ID, systemId: TEMPLATE_SYSTEM_ID, input });
      }
      enqueue.assign({ template });
      settle({ ...context, template }, enqueue);
      scheduleHealthTick(context, enqueue);
    }),
    trackTemplate: enqueueActions(({ context, event, enqueue }) => {
      const change = templateChange(event);
      if (change === null) return;
      const { template, emitted } = change;
      enqueue.emit(emitted);
      enqueue.assign({ template });
      // Spawns held back for the template go now: forked if it is up, exec'd if not.
      settle({ ...context, template }, enqueue);
    }),
    acquire: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'ACQUIRE') return;
      const { ledger } = context;
      ledger.counters.acquisitions++;
      if (ledger.waiters.size === 0 && ledger.idle.length > 0) ledger.counters.poolHits++;
      else ledger.counters.poolMisses++;
      // Every acquire joins the queue and settle() serves the oldest first: one path keeps FIFO honest.
      const waiter = { id: event.waiterId, hasDeadline: false };
      ledger.addWaiter(waiter);
      settle(context, enqueue);
      if (event.timeoutMs !== null && ledger.waiters.has(waiter.id)) {
        waiter.hasDeadline = true;
        enqueue.raise({ type: 'WAITER_EXPIRED', waiterId: waiter.id }, { delay: event.timeoutMs, id: waiterTimer(waiter.id) });
      }
    }),
    cancelWaiter: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'CANCEL_WAITER') return;
      failWaiter(context.ledger, event.waiterId, 'aborted', enqueue);
    }),
    expireWaiter: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'WAITER_EXPIRED' || !context.ledger.waiters.has(event.waiterId)) return;
      context.ledger.counters.timeouts++;
      failWaiter(context.ledger, event.waiterId, 'timeout', enqueue);
    }),
    release: enqueueActions(({ context, event, enqueue, self }) => {
      if (event.type !== 'RELEASE' && event.type !== 'DESTROY') return;
      const record = context.ledger.sessions.get(event.sessionId);
      if (record === undefined || record.phase !== 'leased') return;
      const retirement = retirementAtRelease(
        event,
        record,
        context.config,
        self.getSnapshot().children[record.id] as SessionRef | undefined,
      );
      if (retirement === null) makeIdle(context, record, enqueue);
      else stopSession(context.ledger, record, retirement, enqueue);
      enqueue.emit({ type: 'released', sessionId: record.id, kept: retirement === null });
      settle(context, enqueue);
    }),
    sessionStopping: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'session.stopping') return;
      const record = context.ledger.sessions.get(event.sessionId);
      // A starting session that gives up stays 'starting', so that its end counts as a start failure.
      if (record === undefined || (record.phase !== 'idle' && record.phase !== 'leased')) return;
      markStopping(context.ledger, record, enqueue);
      settle(context, enqueue);
    }),
    sessionReady: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'session.ready') return;
      const { ledger } = context;
      const record = ledger.sessions.get(event.sessionId);
      if (record === undefined || record.phase !== 'starting') return;
      ledger.consecutiveFailures = 0;
      ledger.counters.created++;
      const { maxSessionAgeMs } = context.config;
      if (maxSessionAgeMs !== null)
        enqueue.raise({ type: 'SESSION_AGED', sessionId: record.id }, { delay: maxSessionAgeMs, id: ageTimer(record.id) });
      makeIdle(context, record, enqueue);
      enqueue.emit({ type: 'sessionReady', sessionId: event.sessionId, pid: event.pid });
      settle(context, enqueue);
    }),
    childEnded: enqueueActions(({ context, event, enqueue }) => {
      if (endedActorId(event) === TEMPLATE_ID) {
        // Spawns held back for a starting template go now, exec'd.
        buryTemplate(enqueue);
        return settle({ ...context, template: 'stopped' }, enqueue);
      }
      const report = deathReport(event);
      const phase = buryDead(context, report, enqueue);
      if (phase === null) return;
      if (phase === 'starting') onStartFailure(context, report.sessionId, report.cause, enqueue);
      // Sessions the pool stopped did not die; all others did, whatever phase they had reached.
      else if (report.cause.kind !== 'stopped') context.ledger.counters.died++;
      settle(context, enqueue);
    }),
    retireAged: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'SESSION_AGED') return;
      const record = context.ledger.sessions.get(event.sessionId);
      if (record?.phase === 'leased') record.retireOnRelease = true;
      if (record?.phase !== 'idle') return;
      stopSession(context.ledger, record, 'retired', enqueue);
      settle(context, enqueue);
    }),
    retireUnused: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'SESSION_IDLED') return;
      const record = context.ledger.sessions.get(event.sessionId);
      if (record === undefined) return;
      record.idleTimerArmed = false;
      if (record.phase !== 'idle' || context.ledger.phaseCounts.idle <= context.config.minIdle) return;
      stopSession(context.ledger, record, 'retired', enqueue);
    }),
    checkIdleSessions: enqueueActions(({ context, enqueue }) => {
      for (const sessionId of context.ledger.idle) enqueue.sendTo(sessionId, { type: 'HEALTH_CHECK' });
      scheduleHealthTick(context, enqueue);
    }),
    resumeSpawning: enqueueActions(({ context, enqueue }) => {
      context.ledger.spawnPaused = false;
      settle(context, enqueue);
    }),
    closeDown: enqueueActions(({ context, enqueue }) => {
      const { ledger } = context;
      enqueue.cancel(HEALTH_TIMER);
      enqueue.cancel(SPAWN_RETRY_TIMER);
      for (const waiterId of [...ledger.waiters.keys()]) failWaiter(ledger, waiterId, 'closed', enqueue);
      for (const record of ledger.sessions.values()) {
        if (record.phase !== 'stopping') stopSession(ledger, record, 'shutdown', enqueue);
      }
    }),
    stopTemplate: enqueueActions(({ context, enqueue }) => {
      if (context.template !== 'none' && context.template !== 'stopped') enqueue.sendTo(TEMPLATE_ID, { type: 'STOP' });
    }),
    refuseAcquire: enqueueActions(({ event, enqueue }) => {
      if (event.type === 'ACQUIRE') enqueue.emit({ type: 'acquireFailed', waiterId: event.waiterId, reason: 'closed' });
    }),
    buryWhileClosing: enqueueActions(({ context, event, enqueue }) => {
      if (endedActorId(event) === TEMPLATE_ID) buryTemplate(enqueue);
      else buryDead(context, deathReport(event), enqueue);
    }),
  },
}).createMachine({
  id: 'pool',
  context: ({ input }) => ({ config: input, ledger: new Ledger(), template: 'none' }),
  initial: 'open',
  states: {
    open: {
      entry: 'openPool',
      on: {
        ACQUIRE: { actions: 'acquire' },
        CANCEL_WAITER: { actions: 'cancelWaiter' },
        WAITER_EXPIRED: { actions: 'expireWaiter' },
        RELEASE: { actions: 'release' },
        DESTROY: { actions: 'release' },
        'session.ready': { actions: 'sessionReady' },
        'session.stopping': { actions: 'sessionStopping' },
        'xstate.done.actor.*': { actions: 'childEnded' },
        'xstate.error.actor.*': { actions: 'childEnded' },
        'template.up': { actions: 'trackTemplate' },
        'template.down': { actions: 'trackTemplate' },
        'template.unsafe': { actions: 'trackTemplate' },
        HEALTH_TICK: { actions: 'checkIdleSessions' },
        SESSION_AGED: { actions: 'retireAged' },
        SESSION_IDLED: { actions: 'retireUnused' },
        SPAWN_RETRY: { actions: 'resumeSpawning' },
        SHUTDOWN: 'closing',
      },
    },
    // No new work; every session is being stopped. Done when the last process has exited.
    closing: {
      entry: 'closeDown',
      initial: 'stoppingSessions',
      on: {
        ACQUIRE: { actions: 'refuseAcquire' },
        'xstate.done.actor.*': { actions: 'buryWhileClosing' },
        'xstate.error.actor.*': { actions: 'buryWhileClosing' },
      },
      states: {
        stoppingSessions: {
          always: { guard: 'allSessionsGone', target: 'stoppingTemplate' },
        },
        // Last, so that it can still report the exits of the sessions it forked.
        stoppingTemplate: {
          entry: 'stopTemplate',
          always: { guard: 'templateGone', target: '#pool.closed' },
        },
      },
    },
    closed: {
      type: 'final',
      entry: enqueueActions(({ enqueue }) => enqueue.emit({ type: 'closed' })),
    },
  },
});
