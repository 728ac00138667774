import type { Logger } from 'pino';
import type { Tenant } from '../auth.js';
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
  ) {
    registry.onRemoved((entry, why, detail) => this.#sessionEnded(entry, why, detail));
  }

  async create(tenant: Tenant): Promise<Kernel> {
    const entry = await this.registry.create(tenant);
    const kernel = new Kernel(KERNEL_NAME, tenant.name, entry, this.registry);
    this.#kernels.set(kernel.id, kernel);
    this.#bySession.set(entry.id, kernel);
    this.logger.info({ tenant: tenant.name, kernelId: kernel.id, sessionId: entry.id }, 'kernel started');
    return kernel;
  }

  /** The tenant's kernel, or 404: another tenant's kernel is not found, not forbidden. */
  get(tenant: Tenant, id: string): Kernel {
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
      entry = await this.registry.create(tenant);
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
