import type { ExecutionResult, OutputChunk, OutputStream } from '../index.js';
import type { ErrorBody } from './errors.js';

/** What a named session's stream carries, each with its place in the session's sequence. */
export type StreamEvent =
  | { type: 'output'; id: string; seq: number; stream: OutputStream; text: string }
  | { type: 'display'; id: string; seq: number; output: Exclude<OutputChunk, { type: 'stream' }> }
  | { type: 'result'; id: string; seq: number; result: ExecutionResult }
  | ({ type: 'error'; id: string; seq: number; status: number } & ErrorBody);

/** Distributes Omit over the union, so each event keeps its own fields. */
export type NewStreamEvent = StreamEvent extends infer E ? (E extends StreamEvent ? Omit<E, 'seq'> : never) : never;

/** Events that were dropped from the log before a reader got them: seqs from..to. */
export interface Gap {
  from: number;
  to: number;
}

export interface ExecutionRecord {
  id: string;
  status: 'running' | 'done' | 'failed';
  result: ExecutionResult | null;
  error: ErrorBody['error'] | null;
  /** The first seq the execution could have used. */
  fromSeq: number;
}

/** GET .../executions/:execId: an execution's status, its result once done, and its output still in the log. */
export interface ExecutionView extends Omit<ExecutionRecord, 'fromSeq'> {
  output: Extract<StreamEvent, { type: 'output' }>[];
  /** Events since the execution began that the log no longer holds; null when it holds them all. */
  gap: Gap | null;
}

/** Executions remembered per session for GET .../executions/:execId (oldest forgotten first). */
const MAX_EXECUTIONS = 64;

/**
 * The bounded log of one named session's stream: every output, result and error of its
 * executions, numbered 1, 2, 3… in order. It keeps the newest events up to maxChars (the oldest
 * go first), so a client that reconnects can ask for what it missed and learn exactly what is lost.
 */
export class SessionLog {
  readonly #maxChars: number;
  /** Events in seq order; #events[i].seq === #firstSeq + i. */
  #events: StreamEvent[] = [];
  #head = 0;
  #chars = 0;
  #nextSeq = 1;
  readonly #sizes = new WeakMap<StreamEvent, number>();
  readonly #executions = new Map<string, ExecutionRecord>();
  readonly #listeners = new Set<() => void>();

  constructor(maxChars: number) {
    this.#maxChars = maxChars;
  }

  /** The seq of the newest event; 0 before any. */
  get lastSeq(): number {
    return this.#nextSeq - 1;
  }

  /** The seq of the oldest event still kept. */
  get firstSeq(): number {
    return this.#nextSeq - (this.#events.length - this.#head);
  }

  begin(id: string): void {
    this.#executions.delete(id);
    this.#executions.set(id, { id, status: 'running', result: null, error: null, fromSeq: this.#nextSeq });
    if (this.#executions.size > MAX_EXECUTIONS) this.#executions.delete(this.#executions.keys().next().value!);
  }

  has(id: string): boolean {
    return this.#executions.has(id);
  }

  execution(id: string): ExecutionView | null {
    const record = this.#executions.get(id);
    if (record === undefined) return null;
    const { fromSeq, ...rest } = record;
    const gap = fromSeq < this.firstSeq ? { from: fromSeq, to: this.firstSeq - 1 } : null;
    return { ...rest, output: this.#outputOf(id), gap };
  }

  append(event: NewStreamEvent): void {
    const full = { ...event, seq: this.#nextSeq++ } as StreamEvent;
    const size = sizeOf(full);
    this.#sizes.set(full, size);
    this.#events.push(full);
    this.#chars += size;
    this.#record(full);
    this.#trim();
    for (const listener of this.#listeners) listener();
  }

  /** The event after `seq`, or a gap when the log no longer reaches back to it; null when the reader is up to date. */
  after(seq: number): StreamEvent | Gap | null {
    if (seq >= this.lastSeq) return null;
    const first = this.firstSeq;
    if (seq + 1 < first) return { from: seq + 1, to: first - 1 };
    return this.#events[this.#head + (seq + 1 - first)]!;
  }

  /** The kept output of one execution, in order. */
  #outputOf(id: string): Extract<StreamEvent, { type: 'output' }>[] {
    const out: Extract<StreamEvent, { type: 'output' }>[] = [];
    for (let i = this.#head; i < this.#events.length; i++) {
      const event = this.#events[i]!;
      if (event.type === 'output' && event.id === id) out.push(event);
    }
    return out;
  }

  /** Calls `listener` after every append; returns the unsubscribe function. */
  subscribe(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #record(event: StreamEvent): void {
    const record = this.#executions.get(event.id);
    if (record === undefined || event.type === 'output' || event.type === 'display') return;
    if (event.type === 'result') Object.assign(record, { status: 'done', result: event.result });
    else Object.assign(record, { status: 'failed', error: event.error });
  }

  /** Drops the oldest events past maxChars (the newest is always kept) and compacts now and then. */
  #trim(): void {
    while (this.#chars > this.#maxChars && this.#events.length - this.#head > 1) {
      const dropped = this.#events[this.#head]!;
      this.#chars -= this.#sizes.get(dropped) ?? 0;
      this.#events[this.#head++] = undefined as unknown as StreamEvent;
    }
    if (this.#head > 1024 && this.#head * 2 > this.#events.length) {
      this.#events = this.#events.slice(this.#head);
      this.#head = 0;
    }
  }
}

/** The size an event counts for: its text for output, its JSON for the rest (results are few). */
function sizeOf(event: StreamEvent): number {
  return event.type === 'output' ? event.text.length + 64 : JSON.stringify(event).length;
}
