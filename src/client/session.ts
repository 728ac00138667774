import type { ExecutionResult, OutputChunk } from '../types.js';
import type { HttpTransport } from './http.js';
import type { SessionStream } from './stream.js';

export interface RemoteExecuteOptions {
  /** Called as output happens, long before the result. */
  onOutput?: (chunk: OutputChunk) => void;
  /** The execution's deadline; the server's default (and cap) apply otherwise. */
  timeoutMs?: number;
  /** Aborting interrupts the execution (the server kills code that ignores it). */
  signal?: AbortSignal;
}

/** A named session on the service: its state persists between executions until close(). */
export class RemoteSession {
  constructor(
    readonly id: string,
    private readonly http: HttpTransport,
    private readonly stream: SessionStream,
  ) {}

  /**
   * Runs code over the session's WebSocket, streaming output to onOutput; the stream reconnects
   * by itself if it drops. A Python exception is a result (status 'error'); ApiError when the
   * service refused or the session died.
   */
  async execute(code: string, options: RemoteExecuteOptions = {}): Promise<ExecutionResult> {
    const { signal, onOutput, timeoutMs } = options;
    const interrupt = (): void => this.stream.interrupt();
    signal?.addEventListener('abort', interrupt, { once: true });
    try {
      return await this.stream.execute(globalThis.crypto.randomUUID(), code, timeoutMs, onOutput);
    } finally {
      signal?.removeEventListener('abort', interrupt);
    }
  }

  /** Raises KeyboardInterrupt in the running code. */
  async interrupt(): Promise<void> {
    await this.http.call('interrupt', { params: { id: this.id } });
  }

  /** Writes a file in the session's folder (path relative to it). */
  async writeFile(path: string, data: Uint8Array | string): Promise<void> {
    await this.http.call('writeFile', { params: { id: this.id, path }, bytes: data });
  }

  async readFile(path: string): Promise<Uint8Array> {
    return this.http.bytes('readFile', { params: { id: this.id, path } });
  }

  /** Ends the session on the service (its process is killed) and closes its stream. */
  async close(): Promise<void> {
    this.stream.close();
    await this.http.call('deleteSession', { params: { id: this.id } });
  }
}
