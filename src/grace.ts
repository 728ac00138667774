/** A clock's timer functions: the real ones, or a pool runtime's. */
export interface TimerClock {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(id: unknown): void;
}

const realClock: TimerClock = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (id) => clearTimeout(id as NodeJS.Timeout),
};

/**
 * The grace period of a graceful shutdown. Every shutdown() call asks for it to end within its
 * graceMs; the earliest end asked for wins, so a later, shorter call cuts a long grace short.
 */
export class Grace {
  readonly #clock: TimerClock;
  #timer: unknown;
  #endsAt = Infinity;
  #over = false;
  #end!: () => void;
  /** Resolves when the grace is over. */
  readonly ended = new Promise<void>((resolve) => {
    this.#end = resolve;
  });

  constructor(clock: TimerClock = realClock) {
    this.#clock = clock;
  }

  get over(): boolean {
    return this.#over;
  }

  /** Ends the grace within `ms` at the latest; null: no deadline of its own. */
  within(ms: number | null): void {
    if (ms === null || this.#over) return;
    if (ms === 0) return this.end();
    const endsAt = performance.now() + ms;
    if (endsAt >= this.#endsAt) return;
    this.#endsAt = endsAt;
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = this.#clock.setTimeout(() => this.end(), ms);
  }

  /** Ends it now; its timer goes too. */
  end(): void {
    if (this.#over) return;
    this.#over = true;
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#end();
  }
}
