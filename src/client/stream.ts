import type { ExecutionOutput, ExecutionResult, OutputChunk } from '../types.js';
import { ApiError } from './errors.js';

/** The part of the WebSocket API the client uses: the browser's, Node 22's global one, or the `ws` package's. */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: { code: number; reason: string }) => void) | null;
  onerror: ((event: unknown) => void) | null;
}

export type WebSocketConstructor = new (url: string) => WebSocketLike;

export interface ReconnectOptions {
  /** Reconnections tried in a row before pending executions fail with ApiError 'disconnected'. Default 5. */
  attempts: number;
  /** Wait before the first reconnection, doubled each time. Default 100 ms. */
  delayMs: number;
}

interface Pending {
  onOutput: ((chunk: OutputChunk) => void) | undefined;
  stdout: string[];
  stderr: string[];
  /** The streamed outputs in order, consecutive text of one stream merged, as the library's result holds them. */
  outputs: ExecutionOutput[];
  /** The stream lost events (a gap) while this execution ran. */
  lost: boolean;
  resolve: (result: ExecutionResult) => void;
  reject: (error: Error) => void;
}

type Message =
  | { type: 'output'; id: string; seq: number; stream: 'stdout' | 'stderr'; text: string }
  | { type: 'display'; id: string; seq: number; output: Exclude<OutputChunk, { type: 'stream' }> }
  | { type: 'result'; id: string; seq: number; result: ExecutionResult }
  | { type: 'error'; id?: string; seq?: number; status?: number; error: { code: string; message: string } }
  | { type: 'gap'; from: number; to: number };

const OPEN = 1;

/**
 * One named session's WebSocket stream. It opens on first use, and when it drops while executions
 * are pending it reconnects by itself with `?since=` the last event it got, so every output event
 * the service's log still holds arrives exactly once, in order, and results that came while it was
 * away are delivered; a result whose output the log lost meanwhile says `truncated`.
 */
export class SessionStream {
  #socket: WebSocketLike | null = null;
  #opening: Promise<WebSocketLike> | null = null;
  /** The seq of the last event received; null before any. */
  #lastSeq: number | null = null;
  #connectedOnce = false;
  #closed = false;
  readonly #pending = new Map<string, Pending>();

  constructor(
    private readonly url: string,
    private readonly WebSocketImpl: WebSocketConstructor,
    private readonly reconnect: ReconnectOptions,
    /**
     * Asked between reconnections: the error when the session is gone for good (410 session_lost: its
     * node restarted; 404), null when it is worth trying again (503: its node is away for now).
     */
    private readonly goneFor: () => Promise<ApiError | null>,
  ) {}

  async execute(
    id: string,
    code: string,
    timeoutMs: number | undefined,
    onOutput?: (chunk: OutputChunk) => void,
  ): Promise<ExecutionResult> {
    const socket = await this.#open();
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { onOutput, stdout: [], stderr: [], outputs: [], lost: false, resolve, reject });
      socket.send(JSON.stringify({ type: 'execute', id, code, ...(timeoutMs !== undefined ? { timeoutMs } : {}) }));
    });
  }

  interrupt(): void {
    if (this.#socket?.readyState === OPEN) this.#socket.send('{"type":"interrupt"}');
  }

  close(): void {
    this.#closed = true;
    this.#socket?.close(1000);
    this.#failAll(new ApiError('closed', 'the session was closed', 0));
  }

  #open(): Promise<WebSocketLike> {
    if (this.#closed) return Promise.reject(new ApiError('closed', 'the session was closed', 0));
    if (this.#socket?.readyState === OPEN) return Promise.resolve(this.#socket);
    this.#opening ??= this.#connect().finally(() => {
      this.#opening = null;
    });
    return this.#opening;
  }

  #connect(): Promise<WebSocketLike> {
    // A first connection wants only what comes next; a later one, everything after what it got.
    const since = this.#connectedOnce ? `&since=${this.#lastSeq ?? 0}` : '';
    const socket = new this.WebSocketImpl(this.url + since);
    return new Promise((resolve, reject) => {
      socket.onerror = () => undefined;
      socket.onopen = () => {
        this.#socket = socket;
        this.#connectedOnce = true;
        resolve(socket);
      };
      socket.onmessage = (event) => this.#onMessage(String(event.data));
      socket.onclose = (event) => {
        if (this.#socket !== socket) {
          reject(new ApiError('disconnected', `the stream could not be opened (close code ${event.code})`, 0));
          return;
        }
        this.#socket = null;
        if (!this.#closed && this.#pending.size > 0) void this.#resume();
      };
    });
  }

  /** Reconnects with backoff; pending executions fail if every attempt does. */
  async #resume(): Promise<void> {
    let delay = this.reconnect.delayMs;
    for (let attempt = 0; attempt < this.reconnect.attempts && !this.#closed; attempt++) {
      await new Promise((resolve) => setTimeout(resolve, delay));
      delay *= 2;
      const gone = await this.goneFor();
      if (gone !== null) return this.#failAll(gone);
      try {
        await this.#open();
        return;
      } catch {
        // Try again.
      }
    }
    this.#failAll(new ApiError('disconnected', `the stream dropped and ${this.reconnect.attempts} reconnections failed`, 0));
  }

  #onMessage(data: string): void {
    const message = JSON.parse(data) as Message;
    if ('seq' in message && typeof message.seq === 'number') this.#lastSeq = message.seq;
    if (message.type === 'gap') {
      for (const pending of this.#pending.values()) pending.lost = true;
      return;
    }
    const pending = message.id === undefined ? undefined : this.#pending.get(message.id);
    if (pending === undefined) return;
    if (message.type === 'output' || message.type === 'display') {
      const chunk: OutputChunk =
        message.type === 'output' ? { type: 'stream', stream: message.stream, text: message.text } : message.output;
      collect(pending, chunk);
      pending.onOutput?.(chunk);
      return;
    }
    this.#pending.delete(message.id!);
    if (message.type === 'error') {
      pending.reject(new ApiError(message.error.code, message.error.message, message.status ?? 0));
      return;
    }
    // The stream's result leaves out the output it streamed: put it back.
    const { result } = message;
    pending.resolve({
      ...result,
      stdout: pending.stdout.join(''),
      stderr: pending.stderr.join(''),
      outputs: [...pending.outputs, ...result.outputs],
      truncated: result.truncated || pending.lost,
    });
  }

  #failAll(error: ApiError): void {
    for (const pending of this.#pending.values()) pending.reject(error);
    this.#pending.clear();
  }
}

/** Keeps a streamed chunk for the result, as the library does: text by stream, and every output in order. */
function collect(pending: Pending, chunk: OutputChunk): void {
  if (chunk.type !== 'stream') {
    pending.outputs.push(chunk);
    return;
  }
  pending[chunk.stream].push(chunk.text);
  const last = pending.outputs.at(-1);
  if (last?.type === 'stream' && last.stream === chunk.stream) last.text += chunk.text;
  else pending.outputs.push({ ...chunk });
}
