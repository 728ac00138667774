import type { DeathCause, FileError, ProcessExit } from '../machines/session.types.js';

/** Base class of every error PyREPL3 throws; `name` is always the concrete class name. */
export class PyRepl3Error extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** An option or argument was out of range or of the wrong type. Nothing was changed. */
export class InvalidOptionError extends PyRepl3Error {}

/**
 * No session could be granted before the acquire's deadline. When sessions were failing to start
 * meanwhile (a bad pythonPath, a warmup that raises), `cause` is the last of those failures.
 */
export class AcquireTimeoutError extends PyRepl3Error {
  declare readonly cause: SessionStartError | undefined;
  constructor(
    readonly timeoutMs: number,
    lastStartFailure?: SessionStartError,
  ) {
    super(
      `no session became available within ${timeoutMs} ms${lastStartFailure ? `; the last session start failed: ${describeDeath(lastStartFailure.reason)}` : ''}`,
      lastStartFailure ? { cause: lastStartFailure } : undefined,
    );
  }
}

/**
 * Something was asked for that needs optional peer dependencies of pyrepl3 that are not installed.
 * The library (`pyrepl3`, `pyrepl3/client`) needs none of them; the service (`pyrepl3/server`,
 * `pyrepl3 serve`) needs fastify, @fastify/websocket and prom-client, its inspector
 * @statelyai/inspect, and quotas shared through Redis need redis. `packages` are the missing ones
 * with their version ranges; `command` installs them.
 */
export class MissingDependencyError extends PyRepl3Error {
  /** E.g. `npm install fastify@^5.12.8 prom-client@^15.1.3`. */
  readonly command: string;
  constructor(
    /** What needed them, e.g. `pyrepl3 serve` or `pyrepl3/server`. */
    readonly feature: string,
    /** Name@range of each missing package. */
    readonly packages: readonly string[],
  ) {
    const command = `npm install ${packages.join(' ')}`;
    const names = packages.map((p) => p.slice(0, p.lastIndexOf('@')));
    const list = names.length === 1 ? names[0] : `${names.slice(0, -1).join(', ')} and ${names.at(-1)}`;
    super(
      `${feature} needs ${list}, which ${names.length === 1 ? 'is' : 'are'} not installed. Install ${names.length === 1 ? 'it' : 'them'} with: ${command}`,
    );
    this.command = command;
  }
}

/** The pool is shutting down or shut down: it refuses new work and ends pending work with this. */
export class PoolClosedError extends PyRepl3Error {
  constructor(message = 'the pool is closed') {
    super(message);
  }
}

/**
 * The pool was asked for sandboxed sessions and this host cannot build the sandbox. `missing` names
 * each missing piece; the message says how to enable it. No session was started unsandboxed.
 */
export class SandboxUnavailableError extends PyRepl3Error {
  constructor(
    readonly missing: string[],
    hints: string[],
  ) {
    super(
      `the session sandbox cannot be built on this host: ${missing.join('; ')}. ${hints.join(' ')} (pyrepl3 doctor shows what this host offers.)`,
    );
  }
}

/** A session's Python process could not be started, did not answer, or its warmup code raised. */
export class SessionStartError extends PyRepl3Error {
  /** The Python traceback, when the failure was a Python exception (warmup). */
  readonly traceback: string | undefined;
  constructor(readonly reason: DeathCause) {
    super(`session failed to start: ${describeDeath(reason)}`);
    this.traceback = reason.kind === 'warmupFailed' ? reason.error.traceback : undefined;
  }
}

/**
 * The session's process died (crash, os._exit, signal, killed by the pool): what ran in it, or is
 * sent to it since, fails with this. `stdout` and `stderr` hold what the execution printed before
 * it died (as far as the host had received it; empty when the execution did not collect its
 * output, or for a call made after the death).
 */
export class SessionDiedError extends PyRepl3Error {
  readonly exitCode: number | null;
  readonly signal: string | null;
  readonly stdout: string;
  readonly stderr: string;
  constructor(
    readonly reason: DeathCause,
    exit: ProcessExit | null,
    output: { stdout: string; stderr: string } = { stdout: '', stderr: '' },
  ) {
    super(`session died: ${describeDeath(reason)}`);
    this.exitCode = exit?.exitCode ?? null;
    this.signal = exit?.signal ?? null;
    this.stdout = output.stdout;
    this.stderr = output.stderr;
  }
}

/** execute(), writeFile() or readFile() was called while the session was still doing an earlier one. */
export class SessionBusyError extends PyRepl3Error {
  constructor(sessionId: string) {
    super(`session ${sessionId} is already executing; await the running execution first`);
  }
}

/** The session handle was used after it was released back to the pool. */
export class SessionReleasedError extends PyRepl3Error {
  constructor(sessionId: string) {
    super(`session ${sessionId} was released; acquire a session again to run code`);
  }
}

/** The code is larger than limits.maxCodeBytes; it never reached Python. */
export class CodeTooLargeError extends PyRepl3Error {
  constructor(
    readonly sizeBytes: number,
    readonly maxCodeBytes: number,
  ) {
    super(`code is ${sizeBytes} bytes, over the limit of ${maxCodeBytes} bytes`);
  }
}

/** writeFile()/readFile() refused: the path leaves the session's folder, no such file, over a size limit, or the OS refused. */
export class SessionFileError extends PyRepl3Error {
  readonly code: FileError['code'];
  constructor(error: FileError) {
    super(error.message);
    this.code = error.code;
  }
}

export function describeDeath(cause: DeathCause): string {
  switch (cause.kind) {
    case 'exited': {
      const how =
        cause.signal === 'SIGXCPU'
          ? 'killed by SIGXCPU (its CPU time limit, limits.cpuSeconds, ran out)'
          : cause.signal !== null
            ? `killed by ${cause.signal}`
            : `exited with code ${cause.exitCode}`;
      return cause.diagnostics ? `process ${how}: ${cause.diagnostics.trim()}` : `process ${how}`;
    }
    case 'spawnFailed':
      return cause.message;
    case 'startTimeout':
      return `the worker did not report ready within ${cause.timeoutMs} ms`;
    case 'warmupFailed':
      return `warmup code raised ${cause.error.name}: ${cause.error.message}`;
    case 'warmupTimeout':
      return `warmup code did not finish within ${cause.timeoutMs} ms`;
    case 'healthCheckFailed':
      return `no answer to a health check within ${cause.timeoutMs} ms`;
    case 'executionTimeout':
      return `an execution exceeded ${cause.timeoutMs} ms and ignored the interrupt; the process was killed`;
    case 'interruptIgnored':
      return `an execution ignored its interrupt for ${cause.graceMs} ms; the process was killed`;
    case 'oom':
      return 'killed by the kernel: out of memory (the session used more than limits.memoryBytes, all its processes together)';
    case 'cpuLimit':
      return `killed: its processes together used more than limits.cpuSeconds (${cause.cpuSeconds} s) of CPU time`;
    case 'protocolError':
      return `protocol error: ${cause.message}`;
    case 'stopped':
      return `stopped by the pool (${cause.reason})`;
  }
}
