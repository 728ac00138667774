/**
 * A clock for model tests, in the shape PoolRuntime.clock expects. Time moves only when a test says
 * so: `advance(ms)` fires every timer that falls due (in due order, timers set while firing
 * included), `fire(ms)` fires the oldest pending timer that was set for exactly `ms` (a model's
 * "this deadline passed first"). Nothing here uses real time.
 */
interface Timer {
  id: number;
  due: number;
  ms: number;
  fn: () => void;
}

export class ModelClock {
  now = 0;
  #serial = 0;
  readonly #timers = new Map<number, Timer>();

  setTimeout(fn: () => void, ms: number): number {
    const id = ++this.#serial;
    this.#timers.set(id, { id, due: this.now + ms, ms, fn });
    return id;
  }

  clearTimeout(id: unknown): void {
    this.#timers.delete(id as number);
  }

  /** Durations of the pending timers, oldest first. */
  pending(): number[] {
    return [...this.#timers.values()].map((t) => t.ms);
  }

  has(ms: number): boolean {
    return this.pending().includes(ms);
  }

  /** The id the next timer set will get: timers set from now on have ids >= this. */
  nextId(): number {
    return this.#serial + 1;
  }

  /** The pending timers (id and duration), oldest first. */
  timers(): Array<{ id: number; ms: number }> {
    return [...this.#timers.values()].map(({ id, ms }) => ({ id, ms }));
  }

  /** Fires the oldest pending timer set for `ms` (or matching `ms` and its id), without moving time. */
  fire(ms: number | ((ms: number, id: number) => boolean)): boolean {
    const match = typeof ms === 'number' ? (x: number) => x === ms : ms;
    const timer = [...this.#timers.values()].find((t) => match(t.ms, t.id));
    if (timer === undefined) return false;
    this.#timers.delete(timer.id);
    timer.fn();
    return true;
  }

  /** When the next timer falls due, or null when none is pending. */
  nextDue(): number | null {
    let next: number | null = null;
    for (const t of this.#timers.values()) if (next === null || t.due < next) next = t.due;
    return next;
  }

  advance(ms: number): void {
    const target = this.now + ms;
    for (;;) {
      let first: Timer | undefined;
      for (const t of this.#timers.values()) if (t.due <= target && (first === undefined || t.due < first.due)) first = t;
      if (first === undefined) break;
      this.#timers.delete(first.id);
      this.now = first.due;
      first.fn();
    }
    this.now = target;
  }

  /** Moves time to the next due timer and fires what falls due then. False when nothing is pending. */
  advanceToNext(): boolean {
    const next = this.nextDue();
    if (next === null) return false;
    this.advance(Math.max(0, next - this.now));
    return true;
  }
}
