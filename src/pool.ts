import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import { createActor, toPromise, type Actor } from 'xstate';
type Clock = NonNullable<NonNullable<Parameters<typeof createActor>[1]>['clock']>;
import { poolMachine, type PoolEmitted } from '../machines/pool.machine.js';
import { sessionMachine } from '../machines/session.machine.js';
import { templateMachine } from '../machines/template.machine.js';
import { AcquireTimeoutError, InvalidOptionError, PoolClosedError, SessionStartError } from './errors.js';
import { deadline, normalizeOptions, type NormalizedOptions, type SessionPoolOptions } from './options.js';
import { Grace } from './grace.js';
import { rejectUnknownKeys } from './known-keys.js';
import { ForkServer } from './process/fork-server.js';
import { pythonProcessActor, type ProcessLogic, type ProcessSettings } from './process/python-process.js';
import { LeaseWatch } from './observe/lease-watch.js';
import { describePool, SessionTimeline, type PoolSnapshot } from './observe/snapshot.js';
import { combineInspectors, TraceRecorder, type TraceEntry } from './observe/trace.js';
import { templateProcessActor, type TemplateProcessLogic } from './process/template-process.js';
import { SandboxHost } from './sandbox/host.js';
import { probeHost, type HostReport } from './sandbox/probe.js';
import { Session } from './session.js';
import { SessionLink, type SessionActorRef } from './session-link.js';
import type { AcquireOptions, PoolMetrics, ShutdownOptions } from './types.js';

/**
 * What the pool runs on, for tests and unusual hosts: the process actor each session invokes
 * (a fake worker in model-based tests), the fork template's process actor (spawn 'fork'), and the
 * clock of every timer (a simulated one there).
 */
export interface PoolRuntime {
  processActor?: (settings: ProcessSettings) => ProcessLogic;
  templateProcessActor?: () => TemplateProcessLogic;
  clock?: { setTimeout(fn: () => void, ms: number): unknown; clearTimeout(id: unknown): void };
  /** What the host offers for sandboxing; by default read from the host (src/sandbox/probe.ts). */
  sandboxProbe?: () => HostReport;
}

interface PendingAcquire {
  resolve: (session: Session) => void;
  reject: (error: unknown) => void;
  timeoutMs: number | null;
  since: number;
  /** The acquire() caller's stack, kept only when leases are watched. */
  acquiredAt: string | null;
  detach: () => void;
}

type EventOf<T extends PoolEmitted['type']> = Omit<Extract<PoolEmitted, { type: T }>, 'type'>;

/** The pool's typed events, for hosts that feed their own monitoring. */
export interface SessionPoolEvents {
  sessionSpawned: [EventOf<'sessionSpawned'>];
  sessionReady: [EventOf<'sessionReady'>];
  sessionDied: [EventOf<'sessionDied'>];
  spawnFailed: [EventOf<'spawnFailed'>];
  granted: [EventOf<'granted'>];
  released: [EventOf<'released'>];
  acquireFailed: [EventOf<'acquireFailed'>];
  waiterTimedOut: [{ waiterId: string }];
  templateReady: [EventOf<'templateReady'>];
  templateDown: [EventOf<'templateDown'>];
  templateUnsafe: [EventOf<'templateUnsafe'>];
  /** Sandboxed sessions lack cgroups for these controllers: their limits hold per process only. */
  sandboxWarning: [{ missingControllers: string[]; message: string }];
  closed: [];
}

/**
 * A pool of stateful Python sessions. This class is a thin bridge between promises and the
 * supervisor actor (machines/pool.machine.ts): a call becomes an event, an emitted event settles
 * the call. All decisions are the machine's.
 */
export class SessionPool extends EventEmitter<SessionPoolEvents> implements AsyncDisposable {
  /** Unique per pool; every worker process carries it on its command line. */
  readonly id = `pool-${randomUUID()}`;
  readonly #options: NormalizedOptions;
  readonly #log: Logger;
  readonly #actor: Actor<typeof poolMachine>;
  readonly #forkServer: ForkServer | undefined;
  /** The pool's sandbox, checked against the host once, on first use; undefined when unsandboxed. */
  readonly #sandbox: (() => Promise<SandboxHost>) | undefined;
  /** Set once that check has begun: shutdown then removes what it made. */
  #sandboxPrepared: Promise<SandboxHost> | undefined;
  readonly #trace: TraceRecorder | undefined;
  readonly #timeline = new SessionTimeline();
  readonly #leaseWatch: LeaseWatch | undefined;
  #templatePid: number | null = null;
  readonly #links = new Map<string, SessionLink>();
  readonly #pending = new Map<string, PendingAcquire>();
  /** Processes whose session actor failed (a bug in PyREPL3), until they are gone: shutdown waits for them. */
  readonly #orphans = new Set<Promise<void>>();
  /** Every lease this pool handed out: release() takes back only these. */
  readonly #leases = new WeakSet<Session>();
  /** Why the last session failed to start, until one starts again: the cause of an acquire's timeout. */
  #lastStartFailure: SessionStartError | undefined;
  #waiterSerial = 0;
  #running = false;
  #started: Promise<void> | null = null;
  #closed: Promise<void> | null = null;
  /** Waiters a graceful shutdown refused, until the supervisor confirms: reported as closed, not aborted. */
  readonly #refusedAtClose = new Set<string>();
  /** Set by the first shutdown(): how long running executions may still go on. */
  #grace: Grace | null = null;
  readonly #clock: PoolRuntime['clock'];

  constructor(options: SessionPoolOptions = {}, runtime: PoolRuntime = {}) {
    super();
    this.#options = normalizeOptions(options);
    this.#clock = runtime.clock;
    this.#log = this.#options.logger.child({ pool: this.id });
    const { pythonPath, env, config } = this.#options;
    this.#sandbox = this.#sandboxOnFirstUse(runtime.sandboxProbe ?? probeHost);
    const sandbox = this.#sandbox ? { sandbox: this.#sandbox } : {};
    const forks = config.spawn === 'fork' && runtime.templateProcessActor === undefined;
    this.#forkServer = forks
      ? new ForkServer({ poolId: this.id, pythonPath, env, warmupCode: config.session.warmupCode, logger: this.#log, ...sandbox })
      : undefined;
    const process = (runtime.processActor ?? pythonProcessActor)({
      pythonPath,
      env,
      workerConfig: { pool: this.id, limits: this.#options.limits },
      logger: this.#log,
      onOrphaned: (gone) => {
        this.#orphans.add(gone);
        void gone.then(() => this.#orphans.delete(gone));
      },
      ...(this.#forkServer ? { forkServer: this.#forkServer } : {}),
      ...sandbox,
    });
    const session = sessionMachine.provide({ actors: { process } });
    const templateProcess = runtime.templateProcessActor?.() ?? (this.#forkServer ? templateProcessActor(this.#forkServer) : undefined);
    const template = templateProcess ? templateMachine.provide({ actors: { templateProcess } }) : templateMachine;
    const machine = poolMachine.provide({ actors: { session, template } });
    const { traceSize, leaseWarningMs } = this.#options;
    this.#trace = traceSize > 0 ? new TraceRecorder(traceSize, (actor) => actor === this.#actor) : undefined;
    this.#leaseWatch = leaseWarningMs !== null ? new LeaseWatch(leaseWarningMs, this.#log) : undefined;
    const inspect = combineInspectors(this.#options.inspect, this.#trace);
    this.#actor = createActor(machine, {
      input: this.#options.config,
      ...(inspect ? { inspect } : {}),
      ...(runtime.clock ? { clock: runtime.clock as Clock } : {}),
    });
    this.#listen();
  }

  /** Whether every session runs in its own sandbox (the `sandbox` option). */
  get sandboxed(): boolean {
    return this.#sandbox !== undefined;
  }

  /**
   * Starts the pool; resolves when minIdle sessions are ready. Rejects with SessionStartError when a
   * session fails to start, SandboxUnavailableError where the sandbox cannot be built. Idempotent.
   */
  start(): Promise<void> {
    this.#started ??= this.#startOnce();
    return this.#started;
  }

  /**
   * A session for your exclusive use until you release it. Waits in FIFO order when none is idle.
   * Rejects with AcquireTimeoutError, PoolClosedError, SessionStartError, InvalidOptionError (a bad
   * timeoutMs), SandboxUnavailableError (a sandboxed pool on a host that cannot build it), or the
   * signal's reason.
   */
  acquire(options: AcquireOptions = {}): Promise<Session> {
    try {
      if (this.#closed !== null) throw new PoolClosedError();
      options.signal?.throwIfAborted();
      const timeoutMs = options.timeoutMs === undefined ? this.#options.acquireTimeoutMs : deadline('timeoutMs', options.timeoutMs);
      // A sandboxed pool runs only once its sandbox is known to work on this host.
      if (!this.#running && this.#sandbox) return this.start().then(() => this.#enqueue(timeoutMs, options.signal));
      this.#run();
      return this.#enqueue(timeoutMs, options.signal);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Gives a session back; the same as `session.release()`. A session this pool did not hand out
   * (another pool's) is refused with InvalidOptionError and left as it was.
   */
  release(session: Session): Promise<void> {
    if (!this.#leases.has(session)) {
      const what =
        session instanceof Session
          ? `session ${session.id} was not acquired from this pool`
          : 'release() takes a session acquired from this pool';
      return Promise.reject(new InvalidOptionError(`${what} (${this.id}); release it with its own pool, or with session.release()`));
    }
    return session.release();
  }

  /** Acquires a session, runs `fn` with it and always releases it. */
  async withSession<T>(fn: (session: Session) => Promise<T> | T, options?: AcquireOptions): Promise<T> {
    const session = await this.acquire(options);
    try {
      return await fn(session);
    } finally {
      await session.release();
    }
  }

  metrics(): PoolMetrics {
    const { ledger } = this.#actor.getSnapshot().context;
    const { starting, idle, leased, stopping } = ledger.phaseCounts;
    return {
      total: starting + idle + leased,
      idle,
      busy: leased,
      starting,
      stopping,
      waiting: ledger.waiters.size,
      ...ledger.counters,
      leaseWarnings: this.#leaseWatch?.warnings ?? 0,
    };
  }

  /** A plain, JSON-serialisable picture of the pool now: sessions, waiters, capacity, counters. */
  snapshot(): PoolSnapshot {
    return describePool({
      id: this.id,
      running: this.#running,
      shuttingDown: this.#closed !== null,
      supervisor: this.#actor.getSnapshot(),
      metrics: this.metrics(),
      timeline: this.#timeline,
      lastErrorOf: (sessionId) => this.#links.get(sessionId)?.lastError ?? null,
      waiterSince: (waiterId) => this.#pending.get(waiterId),
      templatePid: this.#templatePid,
    });
  }

  /** The last supervisor events with their times (oldest first); empty unless traceSize > 0. */
  trace(): TraceEntry[] {
    return this.#trace?.entries() ?? [];
  }

  /**
   * Refuses new work and rejects every waiter with PoolClosedError at once; lets running executions
   * go on for up to `graceMs` (default 0), then stops every session (what still runs fails with
   * PoolClosedError). Resolves when every worker process of the pool has exited (unsandboxed, a
   * process user code started in a session of its own can outlive it). Idempotent; a later call
   * with a shorter grace cuts the grace short.
   */
  shutdown(options: ShutdownOptions = {}): Promise<void> {
    let graceMs: number | null;
    try {
      if (typeof options !== 'object' || options === null) throw new InvalidOptionError('shutdown options must be an object');
      rejectUnknownKeys(options, ['graceMs'] satisfies Array<keyof ShutdownOptions>);
      graceMs = deadline('graceMs', options.graceMs ?? 0);
    } catch (error) {
      return Promise.reject(error);
    }
    this.#grace ??= new Grace(this.#clock);
    this.#grace.within(graceMs);
    this.#closed ??= this.#closeOnce(this.#grace);
    return this.#closed;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.shutdown();
  }

  #run(): void {
    if (this.#running) return;
    this.#running = true;
    this.#actor.start();
  }

  #startOnce(): Promise<void> {
    if (this.#closed !== null) return Promise.reject(new PoolClosedError());
    // Unsandboxed, the supervisor starts within this call (model tests rely on it).
    if (this.#sandbox === undefined) return this.#startSessions();
    return this.#sandbox().then(() => (this.#closed === null ? this.#startSessions() : Promise.reject(new PoolClosedError())));
  }

  /** The sandbox, prepared on first use and shared by every session; a warning where cgroups are missing. */
  #sandboxOnFirstUse(probe: () => HostReport): (() => Promise<SandboxHost>) | undefined {
    const settings = this.#options.sandbox;
    if (settings === null) return undefined;
    return () => {
      this.#sandboxPrepared ??= SandboxHost.prepare(settings, this.id, this.#options.pythonPath, this.#options.limits, probe()).then(
        (host) => {
          const missingControllers = host.missingControllers;
          if (missingControllers.length > 0) {
            const message = `sandboxed sessions have no cgroup for ${missingControllers.join(', ')}: those limits hold per process only`;
            this.#log.warn({ missingControllers }, message);
            this.emit('sandboxWarning', { missingControllers, message });
          }
          return host;
        },
      );
      return this.#sandboxPrepared;
    };
  }

  #startSessions(): Promise<void> {
    const { minIdle } = this.#options.config;
    return new Promise<void>((resolve, reject) => {
      const subscriptions = [
        this.#actor.on('sessionReady', () => {
          if (this.#actor.getSnapshot().context.ledger.counters.created >= minIdle) done();
        }),
        this.#actor.on('spawnFailed', (event) => done(new SessionStartError(event.cause))),
        this.#actor.on('closed', () => done(new PoolClosedError())),
      ];
      const done = (error?: Error): void => {
        for (const subscription of subscriptions) subscription.unsubscribe();
        if (error) reject(error);
        else resolve();
      };
      this.#run();
      if (minIdle === 0) done();
    });
  }

  async #closeOnce(grace: Grace): Promise<void> {
    if (this.#running && !grace.over && this.#executing().length > 0) await this.#graceForExecutions(grace);
    grace.end();
    if (this.#running) {
      const finished = toPromise(this.#actor);
      this.#actor.send({ type: 'SHUTDOWN' });
      await finished;
      await Promise.all(this.#orphans);
      await this.#forkServer?.close();
    }
    await (await this.#sandboxPrepared?.catch(() => undefined))?.close();
    this.#log.debug('pool closed');
  }

  /** The sessions running an execution or a file transfer now. */
  #executing(): SessionLink[] {
    return [...this.#links.values()].filter((link) => link.executing);
  }

  /**
   * A graceful shutdown's wait: waiters are refused at once (nothing new starts), and running
   * executions, and those holders start meanwhile, go on until none is left or the grace is over.
   */
  async #graceForExecutions(grace: Grace): Promise<void> {
    for (const waiterId of [...this.#pending.keys()]) {
      this.#take(waiterId)?.reject(new PoolClosedError());
      this.#refusedAtClose.add(waiterId);
      this.#actor.send({ type: 'CANCEL_WAITER', waiterId });
    }
    this.#log.info({ executions: this.#executing().length }, 'shutting down: waiting for running executions');
    for (let running = this.#executing(); running.length > 0 && !grace.over; running = this.#executing()) {
      await Promise.race([Promise.all(running.map((link) => link.idle())), grace.ended]);
    }
    const left = this.#executing().length;
    if (left > 0) this.#log.warn({ executions: left }, 'shutting down: grace period over; stopping sessions that still run');
  }

  #enqueue(timeoutMs: number | null, signal: AbortSignal | undefined): Promise<Session> {
    const waiterId = `w${++this.#waiterSerial}`;
    return new Promise<Session>((resolve, reject) => {
      const onAbort = (): void => {
        if (!this.#pending.delete(waiterId)) return;
        this.#actor.send({ type: 'CANCEL_WAITER', waiterId });
        reject(signal!.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      const detach = (): void => signal?.removeEventListener('abort', onAbort);
      const acquiredAt = this.#leaseWatch ? LeaseWatch.capture() : null;
      this.#pending.set(waiterId, { resolve, reject, timeoutMs, since: Date.now(), acquiredAt, detach });
      this.#debug('acquire', () => {
        const { waiting, idle, busy, starting } = this.metrics();
        return { waiterId, waiting, idle, busy, starting };
      });
      // The grant may be emitted synchronously inside this send: the waiter is registered first.
      this.#actor.send({ type: 'ACQUIRE', waiterId, timeoutMs });
    });
  }

  #take(waiterId: string): PendingAcquire | undefined {
    const pending = this.#pending.get(waiterId);
    if (pending === undefined) return undefined;
    this.#pending.delete(waiterId);
    pending.detach();
    return pending;
  }

  /** A debug log line whose fields are built only when debug is on: grants and releases are a hot path. */
  #debug(message: string, fields: () => Record<string, unknown>): void {
    if (this.#log.isLevelEnabled('debug')) this.#log.debug(fields(), message);
  }

  /** Re-emits what the supervisor emits. A throwing listener is logged, never let into the actor. */
  #publish(event: PoolEmitted): void {
    try {
      // Building the payload costs on the hot path (grant, release): only for someone listening.
      if (this.listenerCount(event.type) > 0) {
        const { type, ...payload } = event;
        (this.emit as (name: string, ...args: unknown[]) => boolean)(type, ...(type === 'closed' ? [] : [payload]));
      }
      if (event.type === 'acquireFailed' && event.reason === 'timeout') this.emit('waiterTimedOut', { waiterId: event.waiterId });
    } catch (error) {
      this.#log.error({ err: error, event: event.type }, 'a pool event listener threw');
    }
  }

  #listen(): void {
    const actor = this.#actor;
    actor.on('*', (event) => {
      // A waiter refused by a graceful shutdown was cancelled early, but for listeners it failed because the pool closed.
      const closed = event.type === 'acquireFailed' && this.#refusedAtClose.delete(event.waiterId);
      this.#publish(closed ? { ...event, reason: 'closed' } : event);
    });
    actor.on('sessionReady', (event) => {
      this.#lastStartFailure = undefined;
      this.#timeline.idle(event.sessionId);
      this.#log.debug({ sessionId: event.sessionId, pid: event.pid }, 'session ready');
    });
    actor.on('sessionSpawned', (event) => {
      // The link lives from the spawn to the burial (sessionDied), so every session the supervisor can grant has one.
      const ref = actor.getSnapshot().children[event.sessionId] as SessionActorRef | undefined;
      if (ref !== undefined) this.#links.set(event.sessionId, new SessionLink(event.sessionId, ref, this.#options.limits));
      this.#timeline.spawned(event.sessionId);
    });
    actor.on('granted', (event) => this.#onGranted(event));
    actor.on('released', (event) => {
      this.#timeline.idle(event.sessionId);
      this.#leaseWatch?.returned(event.sessionId);
      this.#debug('session released', () => ({ sessionId: event.sessionId, kept: event.kept }));
    });
    actor.on('templateReady', (event) => {
      this.#templatePid = event.pid;
    });
    actor.on('acquireFailed', (event) => this.#onAcquireFailed(event));
    actor.on('sessionDied', (event) => {
      this.#links.delete(event.sessionId);
      this.#timeline.ended(event.sessionId);
      this.#leaseWatch?.returned(event.sessionId);
      const expected = event.cause.kind === 'stopped';
      this.#log[expected ? 'debug' : 'warn'](
        { sessionId: event.sessionId, phase: event.phase, cause: event.cause, exit: event.exit },
        'session ended',
      );
    });
    actor.on('templateUnsafe', (event) => {
      this.#log.warn(
        { threads: event.threads },
        "warmupCode started threads, so sessions cannot be forked safely; falling back to spawn 'exec'",
      );
    });
    actor.on('templateDown', (event) => {
      this.#log.warn({ reason: event.reason, retryInMs: event.retryInMs }, "fork template died; using spawn 'exec' until it is back");
    });
    actor.on('spawnFailed', (event) => {
      this.#lastStartFailure = new SessionStartError(event.cause);
      this.#log.warn({ sessionId: event.sessionId, cause: event.cause, retryInMs: event.retryInMs }, 'session failed to start');
    });
    actor.subscribe({
      error: (error) => {
        // The supervisor handles every child failure itself; reaching here is a bug in PyREPL3.
        this.#log.error({ err: error }, 'pool supervisor failed');
        for (const waiterId of [...this.#pending.keys()]) this.#take(waiterId)?.reject(new PoolClosedError('the pool failed'));
      },
    });
  }

  #onGranted(event: Extract<PoolEmitted, { type: 'granted' }>): void {
    const link = this.#links.get(event.sessionId);
    const pending = this.#take(event.waiterId);
    if (pending === undefined || link === undefined) {
      // Nobody can take this grant (its caller gave up): the session goes straight back rather than vanish.
      this.#actor.send({ type: 'RELEASE', sessionId: event.sessionId });
      // A grant without a link cannot happen (the link lives from the spawn to the burial, and only a
      // live session is granted); were it to, the caller would learn it rather than wait forever.
      pending?.reject(
        new SessionStartError({
          kind: 'protocolError',
          message: `session ${event.sessionId} was granted without its link (a bug in PyREPL3)`,
        }),
      );
      return;
    }
    this.#timeline.leased(event.sessionId, event.waiterId);
    if (pending.acquiredAt !== null) this.#leaseWatch?.leased(event.sessionId, pending.acquiredAt);
    this.#debug('session granted', () => ({ sessionId: event.sessionId, waiterId: event.waiterId, waitedMs: Date.now() - pending.since }));
    const session = new Session(link, (sessionId, destroy) => this.#giveBack(sessionId, destroy));
    this.#leases.add(session);
    pending.resolve(session);
  }

  #giveBack(sessionId: string, destroy: boolean): void {
    // After shutdown every session is gone already: there is nothing to give back.
    if (this.#actor.getSnapshot().status !== 'active') return;
    if (destroy) this.#actor.send({ type: 'DESTROY', sessionId });
    else this.#actor.send({ type: 'RELEASE', sessionId });
  }

  #onAcquireFailed(event: Extract<PoolEmitted, { type: 'acquireFailed' }>): void {
    const pending = this.#take(event.waiterId);
    if (pending === undefined) return;
    switch (event.reason) {
      case 'timeout':
        return pending.reject(new AcquireTimeoutError(pending.timeoutMs ?? 0, this.#lastStartFailure));
      case 'startFailed':
        return pending.reject(new SessionStartError(event.cause ?? { kind: 'spawnFailed', message: 'unknown' }));
      case 'closed':
      case 'aborted':
        return pending.reject(new PoolClosedError());
    }
  }
}
