import type { ActorRefFrom } from 'xstate';
import type { sessionMachine, SessionEmitted } from '../machines/session.machine.js';
import {
  UNEXPLAINED_EXIT,
  type DeathCause,
  type FileError,
  type FileRequest,
  type ProcessExit,
  type WorkerResult,
} from '../machines/session.types.js';
import { CodeTooLargeError, PoolClosedError, SessionBusyError, SessionDiedError, SessionFileError } from './errors.js';
import type { SessionLimits } from './options.js';
import type { ExecuteOptions, ExecutionOutput, ExecutionResult, OutputChunk } from './types.js';

export type SessionActorRef = ActorRefFrom<typeof sessionMachine>;

interface InFlight {
  kind: 'execute';
  requestId: number;
  resolve: (result: ExecutionResult) => void;
  reject: (error: Error) => void;
  onOutput: ExecuteOptions['onOutput'];
  /** Whether the result carries the output (collectOutput). */
  collect: boolean;
  stdout: string[];
  stderr: string[];
  outputs: ExecutionOutput[];
  outputChars: number;
  truncated: boolean;
  /** Called once the execution settled, whatever its outcome. */
  whenSettled: (() => void)[];
}

/** Host-side bound on one result's output when no maxOutputBytes is set. */
const DEFAULT_MAX_OUTPUT_CHARS = 64 * 1024 * 1024;

/** A file request in flight: it settles with the data of a read (base64), null for a write. */
interface FileInFlight {
  kind: 'file';
  requestId: number;
  resolve: (data: string | null) => void;
  reject: (error: Error) => void;
  whenSettled: (() => void)[];
}

/**
 * The host side of one session actor, for the whole life of the session: it sends EXECUTE, FILE and
 * INTERRUPT and turns the events the session emits back into settled promises. One execution or
 * file request at a time.
 */
export class SessionLink {
  private readonly maxOutputChars: number;
  /** The one thing the session does now: an execution or a file request. */
  #inFlight: InFlight | FileInFlight | null = null;
  #requestSerial = 0;
  /** The last thing that went wrong in this session, for pool.snapshot(). */
  lastError: string | null = null;

  constructor(
    readonly id: string,
    private readonly ref: SessionActorRef,
    private readonly limits: SessionLimits,
  ) {
    // The worker enforces maxOutputBytes; this host-side bound holds whatever a worker sends.
    this.maxOutputChars = limits.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_CHARS;
    ref.on('output', (event) => this.#onOutput(event));
    ref.on('display', (event) => this.#onDisplay(event));
    ref.on('executed', (event) => this.#onExecuted(event));
    ref.on('fileDone', (event) => this.#onFileDone(event.requestId, event.data, event.error));
    ref.on('executionFailed', (event) => this.#onFailed(event.requestId, (run) => deathError(event.cause, event.exit, outputOf(run))));
    ref.on('rejected', (event) => this.#onFailed(event.requestId, () => new SessionBusyError(this.id)));
    // A session actor that throws (a bug in PyREPL3) emits nothing more: what it was doing fails now.
    ref.subscribe({ error: (error) => this.#onActorFailed(error) });
  }

  get pid(): number {
    return this.ref.getSnapshot().context.pid ?? -1;
  }

  get executing(): boolean {
    return this.#inFlight !== null;
  }

  /** Why the session cannot take work now (dead, or busy), or null. */
  #refusal(): Error | null {
    const snapshot = this.ref.getSnapshot();
    if (snapshot.status === 'error') return new SessionDiedError(actorFailure(snapshot.error), null);
    if (snapshot.status !== 'active') return deathError(snapshot.context.cause, snapshot.context.exit);
    return this.executing ? new SessionBusyError(this.id) : null;
  }

  /** Writes (data, base64) or reads a file in the session's folder: one thing at a time, like execute(). */
  file(request: FileRequest): Promise<string | null> {
    const refusal = this.#refusal();
    if (refusal !== null) return Promise.reject(refusal);
    const requestId = ++this.#requestSerial;
    const promise = new Promise<string | null>((resolve, reject) => {
      this.#inFlight = { kind: 'file', requestId, resolve, reject, whenSettled: [] };
    });
    this.ref.send({ type: 'FILE', requestId, request });
    return promise;
  }

  execute(code: string, options: ExecuteOptions): Promise<ExecutionResult> {
    const refusal = this.#refusal();
    if (refusal !== null) return Promise.reject(refusal);
    const { maxCodeBytes } = this.limits;
    if (maxCodeBytes !== undefined && code.length > maxCodeBytes / 3) {
      const sizeBytes = Buffer.byteLength(code);
      if (sizeBytes > maxCodeBytes) return Promise.reject(new CodeTooLargeError(sizeBytes, maxCodeBytes));
    }
    const requestId = ++this.#requestSerial;
    const { signal, onOutput, timeoutMs, silent, collectOutput = true } = options;
    const abort = (): void => this.interrupt();
    const promise = new Promise<ExecutionResult>((resolve, reject) => {
      this.#inFlight = {
        kind: 'execute',
        requestId,
        resolve,
        reject,
        onOutput,
        collect: collectOutput,
        stdout: [],
        stderr: [],
        outputs: [],
        outputChars: 0,
        truncated: false,
        whenSettled: [],
      };
    });
    if (signal !== undefined) {
      signal.addEventListener('abort', abort, { once: true });
      this.#inFlight!.whenSettled.push(() => signal.removeEventListener('abort', abort));
    }
    this.ref.send({ type: 'EXECUTE', requestId, code, silent: silent === true, ...(timeoutMs !== undefined ? { timeoutMs } : {}) });
    return promise;
  }

  interrupt(): void {
    if (this.#inFlight !== null) this.ref.send({ type: 'INTERRUPT' });
  }

  /** Resolves once no execution or file request is in flight (whatever its outcome). */
  idle(): Promise<void> {
    const run = this.#inFlight;
    if (run === null) return Promise.resolve();
    return new Promise((resolve) => run.whenSettled.push(resolve));
  }

  #onFileDone(requestId: number, data: string | null, error: FileError | null): void {
    const file = this.#settle(requestId);
    if (file?.kind !== 'file') return;
    if (error !== null) file.reject(new SessionFileError(error));
    else file.resolve(data);
  }

  /** Ends what is in flight; returns it, or null when `requestId` is not the one in flight. */
  #settle(requestId: number): InFlight | FileInFlight | null {
    const run = this.#inFlight;
    if (run?.requestId !== requestId) return null;
    this.#inFlight = null;
    for (const callback of run.whenSettled) callback();
    return run;
  }

  #current(requestId: number): InFlight | null {
    const run = this.#inFlight;
    return run?.kind === 'execute' && run.requestId === requestId ? run : null;
  }

  #onOutput(event: Extract<SessionEmitted, { type: 'output' }>): void {
    const run = this.#current(event.requestId);
    if (run === null) return;
    const room = this.maxOutputChars - run.outputChars;
    const text = room >= event.text.length ? event.text : event.text.slice(0, Math.max(0, room));
    if (text.length < event.text.length) run.truncated = true;
    if (text.length === 0) return;
    run.outputChars += text.length;
    if (run.collect) {
      run[event.stream].push(text);
      const last = run.outputs.at(-1);
      // Consecutive text of one stream is one output, as a notebook shows it.
      if (last?.type === 'stream' && last.stream === event.stream) last.text += text;
      else run.outputs.push({ type: 'stream', stream: event.stream, text });
    }
    tell(run, { type: 'stream', stream: event.stream, text });
  }

  #onDisplay(event: Extract<SessionEmitted, { type: 'display' }>): void {
    const run = this.#current(event.requestId);
    if (run === null) return;
    if (run.collect) run.outputs.push(event.output);
    tell(run, event.output);
  }

  #onExecuted(event: Extract<SessionEmitted, { type: 'executed' }>): void {
    const run = this.#settle(event.requestId);
    if (run?.kind !== 'execute') return;
    const { result } = event;
    if (result.error !== null) this.lastError = `${result.error.name}: ${result.error.message}`;
    run.resolve({
      status: result.status,
      value: result.value,
      data: result.data,
      error: result.error,
      stdout: run.stdout.join(''),
      stderr: run.stderr.join(''),
      executionCount: result.executionCount,
      durationMs: result.durationMs,
      truncated: result.truncated || run.truncated,
      outputs: [...run.outputs, ...finalOutputs(result)],
    });
  }

  #onActorFailed(error: unknown): void {
    const run = this.#inFlight;
    if (run !== null) this.#onFailed(run.requestId, (failed) => new SessionDiedError(actorFailure(error), null, outputOf(failed)));
  }

  #onFailed(requestId: number, errorOf: (run: InFlight | FileInFlight) => Error): void {
    const run = this.#settle(requestId);
    if (run === null) return;
    const error = errorOf(run);
    this.lastError = error.message;
    run.reject(error);
  }
}

function tell(run: InFlight, chunk: OutputChunk): void {
  try {
    run.onOutput?.(chunk);
  } catch {
    // A throwing callback is the caller's bug; it must not break the session's event loop.
  }
}

/** The cell's value or its error, after what it showed while running. */
function finalOutputs(result: WorkerResult): ExecutionOutput[] {
  if (result.error !== null) return [{ type: 'error', error: result.error }];
  if (result.data !== null) return [{ type: 'result', data: result.data, executionCount: result.executionCount }];
  return [];
}

/** Why a session whose actor threw is dead: the cause the supervisor records for it too. */
function actorFailure(error: unknown): DeathCause {
  let text: string;
  try {
    text = String(error);
  } catch {
    text = 'an error that cannot be printed';
  }
  return { kind: 'protocolError', message: `session actor failed: ${text}` };
}

/** What an execution had printed when it ended without a result (nothing for a file request). */
function outputOf(run: InFlight | FileInFlight): { stdout: string; stderr: string } | undefined {
  return run.kind === 'execute' ? { stdout: run.stdout.join(''), stderr: run.stderr.join('') } : undefined;
}

function deathError(cause: DeathCause | null, exit: ProcessExit | null, output?: { stdout: string; stderr: string }): Error {
  const reason = cause ?? UNEXPLAINED_EXIT;
  if (reason.kind === 'stopped' && reason.reason === 'shutdown') return new PoolClosedError('the pool shut down during the execution');
  return new SessionDiedError(reason, exit, output);
}
