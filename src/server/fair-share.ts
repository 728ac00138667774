import { AcquireTimeoutError } from '../index.js';

interface Waiter {
  readonly tenant: string;
  readonly resolve: () => void;
  readonly reject: (error: Error) => void;
  timer: NodeJS.Timeout | null;
}

/**
 * The server's admission queue in front of pool.acquire(): it lets at most `capacity` leases
 * (the pool's maxSessions) be held or asked for at once, and when more are wanted it hands the
 * next free place to the tenant served least recently, oldest request first within a tenant.
 *
 * Why here and not in the pool: the pool grants in FIFO order to whoever asks; by asking the pool
 * only for leases that fit its capacity, in the order this queue decides, the pool's queue never
 * holds more than the places being refilled, and one tenant's backlog waits here, in its own queue,
 * where it cannot delay another tenant's turn. Everything here is synchronous bookkeeping; a place
 * is handed over by resolving the waiter's promise.
 */
export class FairShare {
  readonly #capacity: number;
  #used = 0;
  readonly #queues = new Map<string, Waiter[]>();
  /** When each tenant was last served (a serial): the least recently served goes first. */
  readonly #servedAt = new Map<string, number>();
  #serial = 0;

  constructor(capacity: number) {
    this.#capacity = capacity;
  }

  /** Places held, and requests waiting for one. */
  get used(): number {
    return this.#used;
  }

  get waiting(): number {
    let n = 0;
    for (const queue of this.#queues.values()) n += queue.length;
    return n;
  }

  /**
   * Resolves when the tenant may take a place (then call leave() once it is given back); rejects with AcquireTimeoutError after timeoutMs.
   */
  enter(tenant: string, timeoutMs: number): Promise<void> {
    if (this.#used < this.#capacity && this.waiting === 0) {
      this.#take(tenant);
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => {
      const waiter: Waiter = { tenant, resolve, reject, timer: null };
      waiter.timer = setTimeout(() => this.#expire(waiter, timeoutMs), timeoutMs);
      const queue = this.#queues.get(tenant);
      if (queue === undefined) this.#queues.set(tenant, [waiter]);
      else queue.push(waiter);
    });
  }

  /** Gives a place back; the next tenant in turn gets it. */
  leave(): void {
    this.#used--;
    this.#grant();
  }

  #take(tenant: string): void {
    this.#used++;
    this.#servedAt.set(tenant, ++this.#serial);
  }

  #grant(): void {
    while (this.#used < this.#capacity) {
      const tenant = this.#nextTenant();
      if (tenant === null) return;
      const queue = this.#queues.get(tenant)!;
      const waiter = queue.shift()!;
      if (queue.length === 0) this.#queues.delete(tenant);
      clearTimeout(waiter.timer ?? undefined);
      this.#take(tenant);
      waiter.resolve();
    }
  }

  /** The waiting tenant served least recently (never served: first). O(tenants waiting), a handful. */
  #nextTenant(): string | null {
    let best: string | null = null;
    let bestAt = Infinity;
    for (const tenant of this.#queues.keys()) {
      const at = this.#servedAt.get(tenant) ?? -1;
      if (at < bestAt) {
        best = tenant;
        bestAt = at;
      }
    }
    return best;
  }

  #expire(waiter: Waiter, timeoutMs: number): void {
    const queue = this.#queues.get(waiter.tenant);
    if (queue === undefined) return;
    const at = queue.indexOf(waiter);
    if (at < 0) return;
    queue.splice(at, 1);
    if (queue.length === 0) this.#queues.delete(waiter.tenant);
    waiter.reject(new AcquireTimeoutError(timeoutMs));
  }
}
