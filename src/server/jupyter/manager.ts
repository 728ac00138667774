import type { Logger } from 'pino';
import type { Tenant } from '../auth.js';
import type { PublishedSession } from '../cluster/leases.js';
import { newJupyterId, refuseForeign, type NodeIdentity } from '../node-identity.js';
import type { NamedSession, SessionRegistry } from '../registry.js';
import { JupyterError } from './errors.js';
import { Kernel } from './kernel.js';

/** The one kernelspec: the pool. */
export const KERNEL_NAME = 'python3';

/** A dead kernel is kept this long (for its clients' GET and DELETE), then forgotten. */
const DEAD_KERNEL_TTL_MS = 5 * 60_000;

/** What a kernel's clients are told when the registry ended its session without an error to show. */
const ENDINGS: Record<string, string> = {
  culled: 'the kernel was culled after being idle',
  deleted: 'the kernel was deleted',
  shutdown: 'the server is shutting down',
};

/** The kernel model of Jupyter Server's REST API. */
export interface KernelModel {
  id: string;
  name: string;
  last_activity: string;
  execution_state: string;
  connections: number;
}

/**
 * The kernels of every tenant. A kernel is a named session of the registry, so quotas, idle
 * culling and shutdown apply to it as to /v1 sessions; when the registry ends the session
 * (culled, deleted through /v1, died), the kernel hears it and tells its clients.
 */
export class KernelManager {
  readonly #kernels = new Map<string, Kernel>();
  /** Registry session id → its kernel. */
  readonly #bySession = new Map<string, Kernel>();
  /** Dead kernels still listed, with when they died: forgotten after DEAD_KERNEL_TTL_MS (no timer: on the next look). */
  readonly #dead = new Map<Kernel, number>();

  constructor(
    private readonly registry: SessionRegistry,
    private readonly logger: Logger,
    private readonly identity: NodeIdentity,
  ) {
    registry.onRemoved((entry, why, detail) => this.#sessionEnded(entry, why, detail));
  }

  async create(tenant: Tenant): Promise<Kernel> {
    const id = newJupyterId(this.identity);
    // Published with the session's lease, so other nodes list the kernel from the start.
    const starting = { id, name: KERNEL_NAME, last_activity: new Date().toISOString(), execution_state: 'starting', connections: 0 };
    const entry = await this.registry.create(tenant, starting);
    const kernel = new Kernel(id, KERNEL_NAME, tenant.name, entry, this.registry);
    this.#kernels.set(kernel.id, kernel);
    this.#bySession.set(entry.id, kernel);
    this.logger.info({ tenant: tenant.name, kernelId: kernel.id, sessionId: entry.id }, 'kernel started');
    return kernel;
  }

  /**
   * The tenant's kernel, or 404: another tenant's kernel is not found, not forbidden. Another
   * node's kernel is 421 and one of this node's earlier start 410, as for /v1 sessions.
   */
  get(tenant: Tenant, id: string): Kernel {
    refuseForeign(this.identity, id, 'kernel');
    const kernel = this.find(tenant, id);
    if (kernel === null) throw new JupyterError(404, `Kernel does not exist: ${id}`);
    return kernel;
  }

  find(tenant: Tenant, id: string): Kernel | null {
    this.#pruneDead();
    const kernel = this.#kernels.get(id);
    return kernel !== undefined && kernel.tenant === tenant.name ? kernel : null;
  }

  list(tenant: Tenant): Kernel[] {
    this.#pruneDead();
    return [...this.#kernels.values()].filter((kernel) => kernel.tenant === tenant.name);
  }

  /** The tenant's kernels on every node: this node's as they are, others' as their nodes last published them. */
  async listEverywhere(tenant: Tenant): Promise<KernelModel[]> {
    const here = this.list(tenant).map((kernel) => this.model(kernel));
    const elsewhere = (await this.registry.elsewhere(tenant)).flatMap((published) =>
      published.kernel === undefined ? [] : [published.kernel],
    );
    return [...here, ...elsewhere];
  }

  /** This node's sessions as published for other nodes' listings, each with the kernel it serves. */
  withKernels(sessions: PublishedSession[]): PublishedSession[] {
    return sessions.map((session) => {
      const kernel = this.#bySession.get(session.view.id);
      return kernel === undefined ? session : { ...session, kernel: this.model(kernel) };
    });
  }

  async delete(tenant: Tenant, id: string): Promise<void> {
    const kernel = this.get(tenant, id);
    const entry = kernel.entry;
    this.#forget(kernel);
    if (entry !== null) kernel.die('the kernel was shut down');
    kernel.stop();
    if (entry !== null) await this.registry.delete(tenant, entry.id);
  }

  /**
   * A fresh session behind the same kernel id. The old session goes first, so a tenant at its
   * quota can restart; requests that arrive meanwhile wait in the kernel's queue.
   */
  async restart(tenant: Tenant, id: string): Promise<Kernel> {
    const kernel = this.get(tenant, id);
    const old = kernel.entry;
    kernel.beginRestart();
    if (old !== null) {
      this.#bySession.delete(old.id);
      await this.registry.delete(tenant, old.id);
    }
    let entry: NamedSession;
    try {
      entry = await this.registry.create(tenant, this.model(kernel));
    } catch (error) {
      this.#died(kernel, 'the kernel could not be restarted');
      throw error;
    }
    this.#bySession.set(entry.id, kernel);
    this.#dead.delete(kernel); // a dead kernel restarted lives again
    kernel.finishRestart(entry);
    return kernel;
  }

  model(kernel: Kernel): KernelModel {
    return {
      id: kernel.id,
      name: kernel.name,
      last_activity: kernel.lastActivity.toISOString(),
      execution_state: kernel.executionState,
      connections: kernel.sockets.size,
    };
  }

  #sessionEnded(entry: NamedSession, why: string, detail: string | undefined): void {
    const kernel = this.#bySession.get(entry.id);
    if (kernel === undefined) return;
    this.#bySession.delete(entry.id);
    this.#died(kernel, detail ?? ENDINGS[why] ?? `the kernel's session ended (${why})`);
  }

  #died(kernel: Kernel, reason: string): void {
    this.logger.info({ tenant: kernel.tenant, kernelId: kernel.id, reason }, 'kernel died');
    kernel.die(reason);
    this.#dead.set(kernel, Date.now());
  }

  #pruneDead(): void {
    const before = Date.now() - DEAD_KERNEL_TTL_MS;
    for (const [kernel, diedAt] of this.#dead) {
      if (diedAt > before) break; // in order of death
      this.#forget(kernel);
      kernel.stop();
    }
  }

  #forget(kernel: Kernel): void {
    this.#kernels.delete(kernel.id);
    this.#dead.delete(kernel);
    if (kernel.entry !== null) this.#bySession.delete(kernel.entry.id);
  }
}
