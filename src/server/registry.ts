import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { SessionDiedError, type ExecutionResult, type OutputChunk, type Session, type SessionPool } from '../index.js';
import type { Tenant } from './auth.js';
import { HttpError, notFound } from './errors.js';

/** What the registry reports to metrics; every method is optional to implement. */
export interface RegistryObserver {
  acquired(waitSeconds: number): void;
  executed(kind: 'session' | 'oneshot', outcome: string, seconds: number): void;
}

export interface NamedSession {
  readonly id: string;
  readonly tenant: string;
  readonly session: Session;
  readonly createdAt: Date;
  lastUsedAt: Date;
  /** The running execution, if any. */
  running: Promise<unknown> | null;
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
  /** Checked here too, so an injected pool without limits.maxCodeBytes still refuses big code. */
  maxCodeBytes: number | null;
  observer?: RegistryObserver;
}

export interface RunOptions {
  timeoutMs?: number;
  onOutput?: (chunk: OutputChunk) => void;
  silent?: boolean;
}

/** why: 'deleted', 'culled', 'died' (detail: the error's message) or 'shutdown'. */
export type RemovalListener = (entry: NamedSession, why: string, detail?: string) => void;

/** Who holds a pool session through the server: a tenant, by a named session or a one-shot run. */
export interface SessionOwner {
  tenant: string;
  /** The named session's id; null for a one-shot run. */
  namedSessionId: string | null;
}

/**
 * The server's only holder of sessions. Named sessions map a random UUID to a lease from the pool,
 * owned by one tenant; one-shot runs hold a lease for the run only. Everything else goes through
 * the pool.
 */
export class SessionRegistry {
  readonly #opts: RegistryOptions;
  readonly #byId = new Map<string, NamedSession>();
  /** Named sessions held plus creations in progress, per tenant: the quota is checked against it. */
  readonly #reserved = new Map<string, number>();
  /** Every execution in flight, named or one-shot, with the session running it. */
  readonly #inFlight = new Map<Promise<unknown>, Session>();
  /** Pool session id → tenant, for one-shot runs in progress. */
  readonly #oneShots = new Map<string, string>();
  #draining = false;
  readonly #removalListeners: RemovalListener[] = [];

  constructor(options: RegistryOptions) {
    this.#opts = options;
  }

  get draining(): boolean {
    return this.#draining;
  }

  get size(): number {
    return this.#byId.size;
  }

  get executing(): number {
    return this.#inFlight.size;
  }

  async create(tenant: Tenant): Promise<NamedSession> {
    this.#refuseWhenDraining();
    const held = this.#reserved.get(tenant.name) ?? 0;
    if (tenant.maxSessions !== null && held >= tenant.maxSessions) {
      throw new HttpError(429, 'quota_exceeded', `tenant ${tenant.name} already holds its ${tenant.maxSessions} sessions`);
    }
    this.#reserved.set(tenant.name, held + 1);
    let session: Session;
    try {
      session = await this.#acquire();
    } catch (error) {
      this.#unreserve(tenant.name);
      throw error;
    }
    if (this.#draining) {
      this.#unreserve(tenant.name);
      await session.destroy();
      this.#refuseWhenDraining();
    }
    const now = new Date();
    const entry: NamedSession = { id: randomUUID(), tenant: tenant.name, session, createdAt: now, lastUsedAt: now, running: null, timer: null };
    this.#byId.set(entry.id, entry);
    this.#schedule(entry);
    this.#opts.logger.info({ tenant: tenant.name, sessionId: entry.id, pid: session.pid }, 'session created');
    return entry;
  }

  /** The tenant's session, or 404: another tenant's session is not found, not forbidden. */
  get(tenant: Tenant, id: string): NamedSession {
    const entry = this.#byId.get(id);
    if (entry === undefined || entry.tenant !== tenant.name) throw notFound();
    return entry;
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

  /** Ends a named session: its process is killed, so no state reaches another tenant. */
  async delete(tenant: Tenant, id: string): Promise<void> {
    const entry = this.get(tenant, id);
    await this.#remove(entry, 'deleted');
  }

  async execute(entry: NamedSession, code: string, options: RunOptions = {}): Promise<ExecutionResult> {
    this.#refuseWhenDraining();
    this.#checkCode(code);
    this.touch(entry);
    const started = performance.now();
    const promise = entry.session.execute(code, options);
    // A refused execution (busy) must not replace the running one.
    if (entry.running !== null) return promise;
    entry.running = promise;
    this.#track(promise, entry.session);
    try {
      return await this.#observed('session', started, promise);
    } catch (error) {
      if (error instanceof SessionDiedError) {
        this.#opts.logger.warn({ tenant: entry.tenant, sessionId: entry.id, err: error }, 'named session died');
        void this.#remove(entry, 'died', error.message);
      }
      throw error;
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
  async runOnce(code: string, options: RunOptions & { tenant?: string } = {}): Promise<ExecutionResult> {
    this.#refuseWhenDraining();
    this.#checkCode(code);
    const { tenant, ...runOptions } = options;
    const session = await this.#acquire();
    if (tenant !== undefined) this.#oneShots.set(session.id, tenant);
    const started = performance.now();
    const promise = session.execute(code, runOptions);
    this.#track(promise, session);
    try {
      return await this.#observed('oneshot', started, promise);
    } finally {
      this.#oneShots.delete(session.id);
      void session.destroy().catch(() => undefined);
    }
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
   * rest (and give them interruptWaitMs to settle), then destroy every named session.
   */
  async close(graceMs: number, interruptWaitMs = 5_000): Promise<void> {
    this.#draining = true;
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

  async #acquire(): Promise<Session> {
    const started = performance.now();
    const session = await this.#opts.pool.acquire({ timeoutMs: this.#opts.acquireTimeoutMs });
    this.#opts.observer?.acquired((performance.now() - started) / 1000);
    return session;
  }

  #checkCode(code: string): void {
    const max = this.#opts.maxCodeBytes;
    if (max !== null && code.length > max / 3 && Buffer.byteLength(code) > max) {
      throw new HttpError(413, 'code_too_large', `code is ${Buffer.byteLength(code)} bytes, over the limit of ${max} bytes`);
    }
  }

  #refuseWhenDraining(): void {
    if (this.#draining) throw new HttpError(503, 'shutting_down', 'the server is shutting down');
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
    this.#unreserve(entry.tenant);
    if (entry.timer !== null) clearTimeout(entry.timer);
    entry.timer = null;
    this.#opts.logger.debug({ tenant: entry.tenant, sessionId: entry.id, why }, 'session removed');
    for (const listener of this.#removalListeners) listener(entry, why, detail);
    await entry.session.destroy().catch((error: unknown) => {
      this.#opts.logger.warn({ sessionId: entry.id, err: error }, 'destroying a session failed');
    });
  }

  #unreserve(tenant: string): void {
    const left = (this.#reserved.get(tenant) ?? 1) - 1;
    if (left <= 0) this.#reserved.delete(tenant);
    else this.#reserved.set(tenant, left);
  }
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
