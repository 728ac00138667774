import { InvalidOptionError, SessionReleasedError } from './errors.js';
import { deadline } from './options.js';
import type { SessionLink } from './session-link.js';
import type { ExecuteOptions, ExecutionResult } from './types.js';

/** Largest file readFile() returns by default; the channel's frames carry it base64-encoded, within their 64 MiB. */
const DEFAULT_MAX_FILE_BYTES = 32 * 1024 * 1024;

/**
 * One lease of a session: what acquire() hands out. It is valid until released; after that every
 * use throws SessionReleasedError, so a late caller can never reach the next holder's session.
 */
export class Session implements AsyncDisposable {
  #released: Promise<void> | null = null;

  constructor(
    private readonly link: SessionLink,
    private readonly giveBack: (sessionId: string, destroy: boolean) => void,
  ) {}

  get id(): string {
    return this.link.id;
  }

  /** The pid of the session's Python process. */
  get pid(): number {
    return this.link.pid;
  }

  get released(): boolean {
    return this.#released !== null;
  }

  execute(code: string, options: ExecuteOptions = {}): Promise<ExecutionResult> {
    if (this.#released !== null) return Promise.reject(new SessionReleasedError(this.id));
    if (typeof code !== 'string') return Promise.reject(new InvalidOptionError(`code must be a string, got ${typeof code}`));
    const { timeoutMs, ...rest } = options;
    if (timeoutMs === undefined) return this.link.execute(code, options);
    try {
      // Infinity (null here) means no deadline at all.
      const ms = deadline('timeoutMs', timeoutMs);
      return this.link.execute(code, ms === null ? rest : { ...rest, timeoutMs: ms });
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Writes a file in the session's working folder (its directories made as needed). `path` is
   * relative to the folder, or absolute inside it; a path that leaves it (`..`, a symlink) is
   * refused with SessionFileError (code 'invalid_path'). One thing at a time, like execute().
   */
  async writeFile(path: string, data: Uint8Array | string): Promise<void> {
    this.#usable();
    await this.link.file({ op: 'writeFile', path, data: Buffer.from(data).toString('base64') });
  }

  /**
   * Reads a file of the session's working folder; SessionFileError 'not_found', 'invalid_path', or 'too_large' above maxBytes (default 32
   * MiB).
   */
  async readFile(path: string, options: { maxBytes?: number } = {}): Promise<Buffer> {
    this.#usable();
    const data = await this.link.file({ op: 'readFile', path, maxBytes: options.maxBytes ?? DEFAULT_MAX_FILE_BYTES });
    return Buffer.from(data ?? '', 'base64');
  }

  #usable(): void {
    if (this.#released !== null) throw new SessionReleasedError(this.id);
  }

  /**
   * Raises KeyboardInterrupt in the running code; the session keeps its state. Code that ignores it
   * for interruptGraceMs is killed with its process. Does nothing when no execution runs.
   */
  interrupt(): void {
    if (this.#released !== null) throw new SessionReleasedError(this.id);
    this.link.interrupt();
  }

  /**
   * Gives the session back to the pool. Idempotent. An execution still running is interrupted
   * first, so the next holder gets a session that is ready for work.
   */
  release(): Promise<void> {
    this.#released ??= this.#giveBackWhenIdle(false);
    return this.#released;
  }

  /**
   * Ends the lease and the session: its process is killed and the pool replaces it as minIdle
   * requires. For sessions whose state must not reach the next holder. Idempotent, like release().
   */
  destroy(): Promise<void> {
    this.#released ??= this.#giveBackWhenIdle(true);
    return this.#released;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.release();
  }

  async #giveBackWhenIdle(destroy: boolean): Promise<void> {
    if (this.link.executing && !destroy) {
      this.link.interrupt();
      await this.link.idle();
    }
    this.giveBack(this.id, destroy);
  }
}
