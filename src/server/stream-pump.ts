import type { WebSocket } from 'ws';
import type { SessionLog } from './session-log.js';

export interface PumpOptions {
  /** Sent to the socket and not yet taken by the OS, counted in characters of JSON; past it, sending waits. */
  maxBufferedBytes: number;
  /** A client that takes nothing for this long while the buffer is full is closed. */
  stuckMs: number;
}

/** The close code for a client that stopped reading its stream. */
export const SLOW_CONSUMER = { code: 4001, reason: 'client too slow: output not read' } as const;

/**
 * Feeds one WebSocket from a session's log. The connection is a cursor into the log: it sends the
 * events after the cursor while less than maxBufferedBytes wait in the socket, and continues as the
 * socket drains. A client that reads slower than the session writes falls behind; once the log has
 * dropped what it had not read, it gets `{ type: "gap", from, to }` and continues from the oldest
 * kept event. So the server holds at most the log and this buffer per client, however slow it is.
 */
export class StreamPump {
  #cursor: number;
  #buffered = 0;
  #stuck: NodeJS.Timeout | null = null;
  #stopped = false;
  readonly #unsubscribe: () => void;

  constructor(
    private readonly socket: WebSocket,
    private readonly log: SessionLog,
    /** Send the events after this seq first; null: only what happens from now on. */
    since: number | null,
    private readonly options: PumpOptions,
  ) {
    this.#cursor = since ?? log.lastSeq;
    this.#unsubscribe = log.subscribe(() => this.#pump());
    socket.once('close', () => this.stop());
    this.#pump();
  }

  stop(): void {
    this.#stopped = true;
    this.#unsubscribe();
    if (this.#stuck !== null) clearTimeout(this.#stuck);
  }

  #pump(): void {
    while (!this.#stopped && this.socket.readyState === this.socket.OPEN && this.#buffered < this.options.maxBufferedBytes) {
      const next = this.log.after(this.#cursor);
      if (next === null) return;
      if ('from' in next) {
        this.#send({ type: 'gap', from: next.from, to: next.to });
        this.#cursor = next.to;
      } else {
        this.#send(next);
        this.#cursor = next.seq;
      }
    }
    if (!this.#stopped) this.#stuck ??= setTimeout(() => this.#closeStuck(), this.options.stuckMs);
  }

  #send(message: unknown): void {
    const data = JSON.stringify(message);
    this.#buffered += data.length;
    // The callback runs once the OS has taken the frame (or the socket failed).
    this.socket.send(data, () => {
      this.#buffered -= data.length;
      if (this.#stuck !== null) clearTimeout(this.#stuck);
      this.#stuck = null;
      this.#pump();
    });
  }

  #closeStuck(): void {
    this.#stuck = null;
    this.stop();
    this.socket.close(SLOW_CONSUMER.code, SLOW_CONSUMER.reason);
  }
}
