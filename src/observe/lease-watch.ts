import type { Logger } from 'pino';

/**
 * Leak detection: a lease held longer than leaseWarningMs is logged once, with the stack of the
 * acquire() call that took it, and counted. Nothing is reclaimed: the holder may still be working.
 */
export class LeaseWatch {
  readonly #timers = new Map<string, NodeJS.Timeout>();
  warnings = 0;

  constructor(
    private readonly leaseWarningMs: number,
    private readonly log: Logger,
  ) {}

  /** The caller's stack, taken when it calls acquire(). */
  static capture(): string {
    return new Error('acquired here').stack ?? '';
  }

  leased(sessionId: string, acquiredAt: string): void {
    const timer = setTimeout(() => {
      this.#timers.delete(sessionId);
      this.warnings++;
      this.log.warn(
        { sessionId, heldMs: this.leaseWarningMs, acquiredAt },
        'a session has been held longer than leaseWarningMs: is it released?',
      );
    }, this.leaseWarningMs);
    timer.unref();
    this.#timers.set(sessionId, timer);
  }

  returned(sessionId: string): void {
    clearTimeout(this.#timers.get(sessionId));
    this.#timers.delete(sessionId);
  }
}
