import type { ActorRefLike, InspectionEvent, Observer } from 'xstate';

export interface TraceEntry {
  /** Epoch milliseconds. */
  at: number;
  /** The event the supervisor received, as sent (plain data). */
  event: { type: string } & Record<string, unknown>;
}

/**
 * The last `size` events the supervisor received, for post-mortems and bug reports. It rides on
 * XState's inspection, which costs 2-3x per event: it exists only when traceSize > 0.
 */
export class TraceRecorder {
  readonly #entries: TraceEntry[] = [];
  #next = 0;

  constructor(
    private readonly size: number,
    private readonly isSupervisor: (actor: ActorRefLike) => boolean,
  ) {}

  observe(inspection: InspectionEvent): void {
    if (inspection.type !== '@xstate.event' || !this.isSupervisor(inspection.actorRef)) return;
    const entry = { at: Date.now(), event: inspection.event as TraceEntry['event'] };
    if (this.#entries.length < this.size) this.#entries.push(entry);
    else this.#entries[this.#next] = entry;
    this.#next = (this.#next + 1) % this.size;
  }

  /** Oldest first. */
  entries(): TraceEntry[] {
    if (this.#entries.length < this.size) return [...this.#entries];
    return [...this.#entries.slice(this.#next), ...this.#entries.slice(0, this.#next)];
  }
}

type Inspect = Observer<InspectionEvent> | ((event: InspectionEvent) => void);

/** One inspection callback that feeds the host's observer and the trace, whichever exist. */
export function combineInspectors(
  user: Inspect | undefined,
  trace: TraceRecorder | undefined,
): ((event: InspectionEvent) => void) | undefined {
  const forward = typeof user === 'function' ? user : user?.next?.bind(user);
  if (forward === undefined && trace === undefined) return undefined;
  return (event) => {
    trace?.observe(event);
    forward?.(event);
  };
}
