import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import {
  CodeTooLargeError,
  SessionBusyError,
  SessionDiedError,
  type DeathCause,
  type ExecutionResult,
  type OutputChunk,
  type Session,
  type SessionPool,
} from '../index.js';
import { describeDeath } from '../errors.js';
import type { Tenant } from './auth.js';
import { errorBody, mapError } from './errors.js';
import { FairShare } from './fair-share.js';
import type { KernelModel } from './jupyter/manager.js';
import { LeasesUnavailableError, type Published, type PublishedSession, type SessionLeases } from './cluster/leases.js';
import { newSessionId, refuseForeign, type NodeIdentity } from './node-identity.js';
import { DrainingError, NotFoundError, QuotaExceededError, QuotaStoreUnavailableError, ShuttingDownError } from './refusals.js';
import { SessionLog } from './session-log.js';

/** What the registry reports to metrics. */
export interface RegistryObserver {
  acquired(waitSeconds: number): void;
  executed(kind: 'session' | 'oneshot', outcome: string, seconds: number): void;
}

export interface NamedSession {
  readonly id: string;
  readonly tenant: string;
  /** The tenant as it authenticated when it created the session: its quotas apply to every execution here. */
  readonly owner: Tenant;
  readonly session: Session;
  readonly createdAt: Date;
  lastUsedAt: Date;
  /** The running execution or file transfer, if any. */
  running: Promise<unknown> | null;
  /** The session's stream: every execution's output, result and error, numbered, bounded. */
  readonly log: SessionLog;
  timer: NodeJS.Timeout | null;
}

export interface SessionView {
  id: string;
  createdAt: string;
  lastUsedAt: string;
  executing: boolean;
}

export interface RegistryOptions {
  pool: SessionPool;
  logger: Logger;
  idleTimeoutMs: number;
  acquireTimeoutMs: number;
  /** The deadline of every execution that asks for none. */
  defaultTimeoutMs: number;
  /** The longest deadline a client may ask for; longer ones are cut to it. */
  maxTimeoutMs: number;
  /** How much of each named session's stream is kept for clients that reconnect, in characters. */
  logChars: number;
  /** Checked here too, so an injected pool without limits.maxCodeBytes still refuses big code. */
  maxCodeBytes: number | null;
  observer?: RegistryObserver;
  /** This node: it names the sessions it makes, and refuses other nodes' and earlier starts'. */
  identity: NodeIdentity;
  /** Tenant quotas and listings across nodes (Redis); absent, both hold for this node alone. */
  leases?: Pick<SessionLeases, 'take' | 'release' | 'list'>;
  /** When the leases' store cannot answer: refuse creates (default) or let them through on local quotas. */
  leasesFailOpen?: boolean;
}

export interface RunOptions {
  timeoutMs?: number;
  onOutput?: (chunk: OutputChunk) => void;
  silent?: boolean;
}

export interface SessionRunOptions extends RunOptions {
  /** The execution's id in the session's log. Default: a random UUID. */
  execId?: string;
  /** False: the result's stdout and stderr stay empty (a stream client had the output already). Default true. */
  collectOutput?: boolean;
}

/** why: 'deleted', 'culled', 'died' (detail: the error's message) or 'shutdown'. */
export type RemovalListener = (entry: NamedSession, why: string, detail?: string) => void;

/** Who holds a pool session through the server: a tenant, by a named session or a one-shot run. */
export interface SessionOwner {
  tenant: string;
  /** The named session's id; null for a one-shot run. */
  namedSessionId: string | null;
}

/** How many deaths between requests are remembered for their sessions' next request. */
const DEATHS_KEPT = 1_024;

/**
 * The server's only holder of sessions. Named sessions map an id (`<node>.<epoch>.<uuid>`) to a lease from the pool,
 * owned by one tenant; one-shot runs hold a lease for the run only. Everything else goes through
 * the pool.
 */
export class SessionRegistry {
  readonly #opts: RegistryOptions;
  readonly #byId = new Map<string, NamedSession>();
  /** The same named sessions by the pool's session id: a death reported by the pool finds its entry at once. */
  readonly #byPoolSession = new Map<string, NamedSession>();
  /** Named sessions held plus creations in progress, per tenant: the quota is checked against it. */
  readonly #reserved = new Map<string, number>();
  /** Every execution in flight, named or one-shot, with the session running it. */
  readonly #inFlight = new Map<Promise<unknown>, Session>();
  /** Pool session id → tenant, for one-shot runs in progress. */
  readonly #oneShots = new Map<string, string>();
  /** Executions running or waiting, per tenant: maxConcurrent is checked against it. */
  readonly #concurrent = new Map<string, number>();
  /** Who gets the pool's capacity next: tenants in turn. */
  readonly #share: FairShare;
  /**
   * Pool sessions that hold a place in #share: leased by the server, or ended by it and still
   * stopping. A place is given back when the pool reports the session gone, not when the server
   * lets go of it: a stopping session still takes pool capacity, and the next tenant's acquire
   * must not wait in the pool's FIFO behind it.
   */
  readonly #places = new Set<string>();
  readonly #onSessionGone = ({ sessionId, cause }: { sessionId: string; cause: DeathCause }): void => {
    if (this.#places.delete(sessionId)) this.#share.leave();
    // A named session's process can die between requests (a thread, a child, the OOM killer): it is
    // ended now, so its quota is free again and its users are told, not at its next request.
    const entry = this.#byPoolSession.get(sessionId);
    if (entry === undefined) return;
    if (cause.kind === 'stopped' && cause.reason === 'shutdown') {
      void this.#remove(entry, 'shutdown');
      return;
    }
    this.#died.set(entry.id, { tenant: entry.tenant, cause });
    if (this.#died.size > DEATHS_KEPT) this.#died.delete(this.#died.keys().next().value!);
    void this.#remove(entry, 'died', `session died: ${describeDeath(cause)}`);
  };
  /** Sessions that died between requests, each told once to its tenant's next request for it (then 404). */
  readonly #died = new Map<string, { tenant: string; cause: DeathCause }>();
  /** Shutting down: all new work is refused. */
  #closing = false;
  #closed: Promise<void> | null = null;
  /** Draining: new sessions and one-shots go elsewhere; the sessions here keep working until they end. */
  #draining = false;
  readonly #drainWaiters: Array<() => void> = [];
  readonly #removalListeners: RemovalListener[] = [];

  constructor(options: RegistryOptions) {
    this.#opts = options;
    this.#share = new FairShare(options.pool.snapshot().capacity.maxSessions);
    options.pool.on('sessionDied', this.#onSessionGone);
  }

  /** 'open', 'draining' (no new sessions or one-shots) or 'closing' (no new work at all). */
  get state(): 'open' | 'draining' | 'closing' {
    return this.#closing ? 'closing' : this.#draining ? 'draining' : 'open';
  }

  /** Stops taking new sessions and one-shots; resolves once no named session is left. Idempotent. */
  drain(): Promise<void> {
    this.#draining = true;
    return new Promise((resolve) => {
      if (this.#byId.size === 0) return resolve();
      this.#drainWaiters.push(resolve);
    });
  }

  get size(): number {
    return this.#byId.size;
  }

  get executing(): number {
    return this.#inFlight.size;
  }

  /** A named session for the tenant; `kernel` is the Jupyter kernel it will serve, published with its lease. */
  async create(tenant: Tenant, kernel?: KernelModel): Promise<NamedSession> {
    this.#refuseNewSessions();
    const held = this.#reserved.get(tenant.name) ?? 0;
    if (held >= tenant.maxSessions) {
      throw new QuotaExceededError(tenant.name, 'sessions', tenant.maxSessions);
    }
    this.#reserved.set(tenant.name, held + 1);
    const id = newSessionId(this.#opts.identity);
    const now = new Date();
    let session: Session;
    try {
      const view = { id, createdAt: now.toISOString(), lastUsedAt: now.toISOString(), executing: false };
      await this.#takeLease({ tenant: tenant.name, view, ...(kernel !== undefined ? { kernel } : {}) }, tenant);
    } catch (error) {
      this.#unreserve(tenant.name);
      throw error;
    }
    try {
      session = await this.#acquire(tenant.name);
    } catch (error) {
      this.#unreserve(tenant.name);
      this.#opts.leases?.release(tenant.name, id);
      throw error;
    }
    if (this.#closing || this.#draining) {
      this.#unreserve(tenant.name);
      this.#opts.leases?.release(tenant.name, id);
      await this.#endLease(session);
      this.#refuseNewSessions();
    }
    const entry: NamedSession = {
      id,
      tenant: tenant.name,
      owner: tenant,
      session,
      createdAt: now,
      lastUsedAt: now,
      running: null,
      timer: null,
      log: new SessionLog(this.#opts.logChars),
    };
    this.#byId.set(entry.id, entry);
    this.#byPoolSession.set(session.id, entry);
    this.#schedule(entry);
    this.#opts.logger.info({ tenant: tenant.name, sessionId: entry.id, pid: session.pid }, 'session created');
    return entry;
  }

  /** The tenant's session, or NotFoundError: another tenant's session is not found, not forbidden. */
  get(tenant: Tenant, id: string): NamedSession {
    refuseForeign(this.#opts.identity, id);
    const entry = this.#byId.get(id);
    if (entry !== undefined && entry.tenant === tenant.name) return entry;
    const death = this.#died.get(id);
    if (death?.tenant === tenant.name) {
      this.#died.delete(id);
      throw new SessionDiedError(death.cause, null);
    }
    throw new NotFoundError();
  }

  /** The tenant's sessions on every node: this node's as they are, others' as their nodes published them. */
  async listEverywhere(tenant: Tenant): Promise<SessionView[]> {
    const here = this.list(tenant).map((entry) => this.view(entry));
    return [...here, ...(await this.elsewhere(tenant)).map((published) => published.view)];
  }

  /** The tenant's sessions on other nodes, as those nodes last published them; none without Redis. */
  async elsewhere(tenant: Tenant): Promise<Published[]> {
    if (this.#opts.leases === undefined) return [];
    const everywhere = await this.#opts.leases.list(tenant.name).catch(() => {
      throw new QuotaStoreUnavailableError('the sessions of other nodes cannot be listed: their store does not answer');
    });
    return everywhere.filter((published) => !this.#byId.has(published.view.id));
  }

  /** This node's sessions, for the leases' renewal. */
  published(): PublishedSession[] {
    return [...this.#byId.values()].map((entry) => ({ tenant: entry.tenant, view: this.view(entry) }));
  }

  list(tenant: Tenant): NamedSession[] {
    return [...this.#byId.values()].filter((e) => e.tenant === tenant.name);
  }

  /** Called whenever a named session ends (deleted, culled, died, shutdown): its users can be told. */
  onRemoved(listener: RemovalListener): void {
    this.#removalListeners.push(listener);
  }

  touch(entry: NamedSession): void {
    entry.lastUsedAt = new Date();
    if (this.#byId.get(entry.id) === entry) this.#schedule(entry);
  }

  /** Ends a named session: its process is killed (sandboxed, with everything it started and wrote). */
  async delete(tenant: Tenant, id: string): Promise<void> {
    const entry = this.get(tenant, id);
    await this.#remove(entry, 'deleted');
  }

  /**
   * Starts an execution in a named session. Refusals (shutting down, code too large, busy, quota) throw
   * at once; once started, the execution's output, result or error also go to the session's log,
   * where every stream of the session (and GET .../executions/:execId) finds them.
   */
  execute(entry: NamedSession, code: string, options: SessionRunOptions = {}): Promise<ExecutionResult> {
    this.#refuseWhenClosing();
    this.#checkCode(code);
    this.touch(entry);
    if (entry.running !== null) throw new SessionBusyError(entry.session.id);
    const admitted = this.#admit(entry.owner);
    const { execId = randomUUID(), collectOutput = true, onOutput, ...run } = options;
    const started = performance.now();
    entry.log.begin(execId);
    const promise = entry.session.execute(code, {
      ...this.#withDeadline(run),
      collectOutput,
      onOutput: (chunk) => {
        entry.log.append(
          chunk.type === 'stream'
            ? { type: 'output', id: execId, stream: chunk.stream, text: chunk.text }
            : { type: 'display', id: execId, output: chunk },
        );
        onOutput?.(chunk);
      },
    });
    entry.running = promise;
    this.#track(promise, entry.session);
    return this.#observed('session', started, promise).then(
      (result) => {
        this.#ended(entry, promise, admitted);
        entry.log.append({ type: 'result', id: execId, result: withoutStreamed(result) });
        return result;
      },
      (error: unknown) => {
        this.#ended(entry, promise, admitted);
        const mapped = mapError(error);
        entry.log.append({ type: 'error', id: execId, status: mapped.status, ...errorBody(mapped) });
        if (error instanceof SessionDiedError) {
          this.#opts.logger.warn({ tenant: entry.tenant, sessionId: entry.id, err: error }, 'named session died');
          this.#died.delete(entry.id); // this caller hears the death: the next request is 404
          void this.#remove(entry, 'died', error.message);
        }
        throw error;
      },
    );
  }

  #ended(entry: NamedSession, promise: Promise<ExecutionResult>, admitted: () => void): void {
    admitted();
    if (entry.running === promise) entry.running = null;
    this.touch(entry);
  }

  /** Writes a file in a named session's folder; the session does one thing at a time (409 while busy). */
  writeFile(entry: NamedSession, path: string, data: Buffer): Promise<void> {
    return this.#occupy(entry, () => entry.session.writeFile(path, data));
  }

  readFile(entry: NamedSession, path: string, maxBytes: number): Promise<Buffer> {
    return this.#occupy(entry, () => entry.session.readFile(path, { maxBytes }));
  }

  async #occupy<T>(entry: NamedSession, work: () => Promise<T>): Promise<T> {
    this.#refuseWhenClosing();
    this.touch(entry);
    if (entry.running !== null) throw new SessionBusyError(entry.session.id);
    const promise = work();
    entry.running = promise;
    try {
      return await promise;
    } finally {
      if (entry.running === promise) entry.running = null;
      this.touch(entry);
    }
  }

  interrupt(entry: NamedSession): void {
    this.touch(entry);
    entry.session.interrupt();
  }

  /**
   * Who holds each pool session the server holds, by pool session id (SessionSnapshot.id): the
   * map from pool.snapshot() to tenants.
   */
  owners(): Map<string, SessionOwner> {
    const owners = new Map<string, SessionOwner>();
    for (const entry of this.#byId.values()) owners.set(entry.session.id, { tenant: entry.tenant, namedSessionId: entry.id });
    for (const [sessionId, tenant] of this.#oneShots) owners.set(sessionId, { tenant, namedSessionId: null });
    return owners;
  }

  /** A one-shot run on a session from the pool; the session is destroyed afterwards. */
  async runOnce(tenant: Tenant, code: string, options: RunOptions = {}): Promise<ExecutionResult> {
    this.#refuseNewSessions();
    this.#checkCode(code);
    // A one-shot counts against its tenant from the moment it asks, waiting included.
    const admitted = this.#admit(tenant);
    try {
      const session = await this.#acquire(tenant.name);
      this.#oneShots.set(session.id, tenant.name);
      const started = performance.now();
      const promise = session.execute(code, this.#withDeadline(options));
      this.#track(promise, session);
      try {
        return await this.#observed('oneshot', started, promise);
      } finally {
        this.#oneShots.delete(session.id);
        void this.#endLease(session);
      }
    } finally {
      admitted();
    }
  }

  /** Counts an execution against its tenant's maxConcurrent (QuotaExceededError over it); returns the function that uncounts it, once. */
  #admit(tenant: Tenant): () => void {
    const running = this.#concurrent.get(tenant.name) ?? 0;
    if (running >= tenant.maxConcurrent) {
      throw new QuotaExceededError(tenant.name, 'executions', tenant.maxConcurrent);
    }
    this.#concurrent.set(tenant.name, running + 1);
    let counted = true;
    return () => {
      if (!counted) return;
      counted = false;
      const left = (this.#concurrent.get(tenant.name) ?? 1) - 1;
      if (left <= 0) this.#concurrent.delete(tenant.name);
      else this.#concurrent.set(tenant.name, left);
    };
  }

  /** Reports the execution's outcome and duration to the metrics observer, whatever it is. */
  async #observed(kind: 'session' | 'oneshot', started: number, promise: Promise<ExecutionResult>): Promise<ExecutionResult> {
    try {
      const result = await promise;
      this.#opts.observer?.executed(kind, result.status, (performance.now() - started) / 1000);
      return result;
    } catch (error) {
      this.#opts.observer?.executed(kind, outcomeOf(error), (performance.now() - started) / 1000);
      throw error;
    }
  }

  view(entry: NamedSession): SessionView {
    return {
      id: entry.id,
      createdAt: entry.createdAt.toISOString(),
      lastUsedAt: entry.lastUsedAt.toISOString(),
      executing: entry.running !== null,
    };
  }

  /**
   * Graceful stop: refuse new work, let running executions finish for up to graceMs, interrupt the
   * rest (and give them interruptWaitMs to settle), then destroy every named session. Idempotent:
   * a later call gets the first one's promise.
   */
  close(graceMs: number, interruptWaitMs = 5_000): Promise<void> {
    this.#closed ??= this.#closeOnce(graceMs, interruptWaitMs);
    return this.#closed;
  }

  async #closeOnce(graceMs: number, interruptWaitMs: number): Promise<void> {
    this.#closing = true;
    if (this.#inFlight.size > 0) {
      this.#opts.logger.info({ executions: this.#inFlight.size, graceMs }, 'waiting for running executions');
      const finished = await within(this.#allSettled(), graceMs);
      if (!finished) {
        this.#opts.logger.warn({ executions: this.#inFlight.size }, 'grace period over; interrupting executions');
        for (const session of this.#inFlight.values()) {
          try {
            session.interrupt();
          } catch {
            // Released meanwhile.
          }
        }
        await within(this.#allSettled(), interruptWaitMs);
      }
    }
    await Promise.all([...this.#byId.values()].map((e) => this.#remove(e, 'shutdown')));
    this.#opts.pool.off('sessionDied', this.#onSessionGone);
  }

  #allSettled(): Promise<unknown> {
    return Promise.allSettled([...this.#inFlight.keys()]);
  }

  #track(promise: Promise<unknown>, session: Session): void {
    this.#inFlight.set(promise, session);
    const untrack = (): void => {
      this.#inFlight.delete(promise);
    };
    promise.then(untrack, untrack);
  }

  /** A lease from the pool, when it is the tenant's turn; give it back with #endLease. */
  async #acquire(tenant: string): Promise<Session> {
    const started = performance.now();
    const timeoutMs = this.#opts.acquireTimeoutMs;
    await this.#share.enter(tenant, timeoutMs);
    let session: Session;
    try {
      session = await this.#opts.pool.acquire({ timeoutMs: Math.max(1, timeoutMs - (performance.now() - started)) });
    } catch (error) {
      this.#share.leave();
      throw error;
    }
    this.#places.add(session.id);
    this.#opts.observer?.acquired((performance.now() - started) / 1000);
    return session;
  }

  /** Destroys a lease's session (no state reaches anyone else); its place goes to the next tenant once the pool reports it gone. */
  async #endLease(session: Session): Promise<void> {
    await session.destroy().catch((error: unknown) => {
      this.#opts.logger.warn({ sessionId: session.id, err: error }, 'destroying a session failed');
    });
  }

  /** Every execution has a deadline: the client's, within maxTimeoutMs, or the default. */
  #withDeadline(options: RunOptions): RunOptions {
    return { ...options, timeoutMs: Math.min(options.timeoutMs ?? this.#opts.defaultTimeoutMs, this.#opts.maxTimeoutMs) };
  }

  #checkCode(code: string): void {
    const max = this.#opts.maxCodeBytes;
    if (max !== null && code.length > max / 3 && Buffer.byteLength(code) > max) {
      throw new CodeTooLargeError(Buffer.byteLength(code), max);
    }
  }

  #refuseWhenClosing(): void {
    if (this.#closing) throw new ShuttingDownError();
  }

  /**
   * Across nodes, the tenant's maxSessions: QuotaExceededError when its leases are all held, QuotaStoreUnavailableError when nobody can
   * tell.
   */
  async #takeLease(session: PublishedSession, tenant: Tenant): Promise<void> {
    const leases = this.#opts.leases;
    if (leases === undefined) return;
    let taken: boolean;
    try {
      taken = await leases.take(session, tenant.maxSessions);
    } catch (error) {
      if (!(error instanceof LeasesUnavailableError)) throw error;
      if (this.#opts.leasesFailOpen) return;
      throw new QuotaStoreUnavailableError('tenant quotas cannot be checked: their store does not answer; try again');
    }
    if (!taken) throw new QuotaExceededError(tenant.name, 'sessionsAcrossNodes', tenant.maxSessions);
  }

  #refuseNewSessions(): void {
    this.#refuseWhenClosing();
    if (this.#draining) throw new DrainingError();
  }

  #schedule(entry: NamedSession): void {
    if (entry.timer !== null) clearTimeout(entry.timer);
    entry.timer = setTimeout(() => this.#cull(entry), this.#opts.idleTimeoutMs);
    entry.timer.unref();
  }

  #cull(entry: NamedSession): void {
    entry.timer = null;
    if (this.#byId.get(entry.id) !== entry) return;
    // A long execution is use, not idleness.
    if (entry.running !== null) {
      this.#schedule(entry);
      return;
    }
    this.#opts.logger.info({ tenant: entry.tenant, sessionId: entry.id }, 'idle session culled');
    void this.#remove(entry, 'culled');
  }

  async #remove(entry: NamedSession, why: string, detail?: string): Promise<void> {
    if (this.#byId.get(entry.id) !== entry) return;
    this.#byId.delete(entry.id);
    this.#byPoolSession.delete(entry.session.id);
    this.#unreserve(entry.tenant);
    this.#opts.leases?.release(entry.tenant, entry.id);
    if (entry.timer !== null) clearTimeout(entry.timer);
    entry.timer = null;
    this.#opts.logger.debug({ tenant: entry.tenant, sessionId: entry.id, why }, 'session removed');
    for (const listener of this.#removalListeners) listener(entry, why, detail);
    if (this.#byId.size === 0) for (const drained of this.#drainWaiters.splice(0)) drained();
    await this.#endLease(entry.session);
  }

  #unreserve(tenant: string): void {
    const left = (this.#reserved.get(tenant) ?? 1) - 1;
    if (left <= 0) this.#reserved.delete(tenant);
    else this.#reserved.set(tenant, left);
  }
}

/** The result without the output the log already holds: no stdout, stderr, nor streamed outputs. */
function withoutStreamed(result: ExecutionResult): ExecutionResult {
  return { ...result, stdout: '', stderr: '', outputs: result.outputs.filter((o) => o.type === 'result' || o.type === 'error') };
}

function outcomeOf(error: unknown): string {
  return error instanceof Error ? error.name : 'unknown';
}

/** True if `promise` settled within ms. The timer is cleared either way. */
async function within(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([promise.then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
