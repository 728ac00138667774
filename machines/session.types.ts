/**
 * The vocabulary shared by the session machine, the process actor that src/ provides for it,
 * and the pool that owns sessions. Plain data only: every value here can be logged, inspected
 * or sent over the wire.
 */
import type { SpareAnswer } from './template.machine.js';

export type OutputStream = 'stdout' | 'stderr';

/** A Jupyter mime bundle: 'text/plain', 'text/html', 'image/png' (base64), ... */
export type MimeBundle = Record<string, unknown>;

/** What display() and clear_output() send while a cell runs, in the order they happen. */
export type DisplayOutput =
  | {
      type: 'display';
      data: MimeBundle;
      metadata: Record<string, unknown>;
      /** display(..., display_id=...): names the output; with update, it replaces the earlier one. */
      displayId?: string;
      update?: boolean;
    }
  | { type: 'clear'; wait: boolean };

/** A Python exception, as the worker reports it. */
export interface PythonError {
  name: string;
  message: string;
  traceback: string;
}

export type ExecutionStatus = 'ok' | 'error' | 'interrupted' | 'timeout';

/** What the worker reports at the end of one execution (output travels separately, as it happens). */
export interface WorkerResult {
  status: ExecutionStatus;
  value: string | null;
  data: Record<string, unknown> | null;
  error: PythonError | null;
  executionCount: number;
  truncated: boolean;
  durationMs: number;
}

/** Why a session is dead. Every dead session records exactly one. */
export type DeathCause =
  | { kind: 'exited'; exitCode: number | null; signal: string | null; diagnostics?: string }
  | { kind: 'spawnFailed'; message: string }
  | { kind: 'startTimeout'; timeoutMs: number }
  | { kind: 'warmupFailed'; error: PythonError }
  | { kind: 'warmupTimeout'; timeoutMs: number }
  | { kind: 'healthCheckFailed'; timeoutMs: number }
  | { kind: 'executionTimeout'; timeoutMs: number }
  /** The caller interrupted an execution that did not stop within the grace period. */
  | { kind: 'interruptIgnored'; graceMs: number }
  | { kind: 'protocolError'; message: string }
  /** A sandboxed session went over a limit that holds for all its processes together. */
  | { kind: 'oom' }
  | { kind: 'cpuLimit'; cpuSeconds: number }
  | { kind: 'stopped'; reason: StopReason };

/** The cause a session records when its process ends with nothing more known. */
export const UNEXPLAINED_EXIT: DeathCause = { kind: 'exited', exitCode: null, signal: null };

export type StopReason = 'shutdown' | 'recycled' | 'retired' | 'destroyed';

/** How the process ended, once it has. */
export interface ProcessExit {
  exitCode: number | null;
  signal: string | null;
}

/** Why a file could not be written or read: the path leaves the session's folder, no such file, over a size limit, or the OS refused. */
export interface FileError {
  code: 'invalid_path' | 'not_found' | 'too_large' | 'io_error';
  message: string;
}

/** A file into (data: base64) or out of (maxBytes) the session's folder. */
export type FileRequest = { op: 'writeFile'; path: string; data: string } | { op: 'readFile'; path: string; maxBytes: number };

/** Commands the session machine sends to its process actor. */
export type ProcessCommand =
  | { type: 'process.execute'; requestId: number; code: string; silent: boolean }
  | { type: 'process.file'; requestId: number; request: FileRequest }
  | { type: 'process.ping' }
  | { type: 'process.interrupt' }
  | { type: 'process.kill' };

/**
 * Events the process actor reports. `process.exited` comes exactly once, after the OS process
 * is gone (or never started), and is the last event the actor sends.
 */
export type ProcessEvent =
  /** warmed: the process already ran the warmup code (forked from a warmed template). */
  | { type: 'process.ready'; pid: number; warmed: boolean }
  | { type: 'process.output'; requestId: number | null; stream: OutputStream; text: string }
  | { type: 'process.display'; requestId: number | null; output: DisplayOutput }
  | { type: 'process.result'; requestId: number; result: WorkerResult }
  | { type: 'process.pong' }
  /** A file request's answer: data (base64) of a read, or why it failed. */
  | { type: 'process.file'; requestId: number; data: string | null; error: FileError | null }
  | { type: 'process.protocolError'; message: string }
  | {
      type: 'process.exited';
      exitCode: number | null;
      signal: string | null;
      /** Set when the process could not be started at all (missing interpreter, ...). */
      spawnError?: string;
      /** The tail of what the interpreter wrote to its own stderr before the worker took over. */
      diagnostics?: string;
      /** A sandboxed session's cgroup says why it died: one of its whole-session limits. */
      overLimit?: Extract<DeathCause, { kind: 'oom' | 'cpuLimit' }>;
    };

/** exec: a new interpreter. fork: a child of the pool's warmed template process. */
export type SpawnMode = 'exec' | 'fork';

/** What a process actor hears: the session's commands, and in spawn 'fork' the template's answer about a spare. */
export type ProcessInbox = ProcessCommand | SpareAnswer;

export interface ProcessInput {
  sessionId: string;
  spawn: SpawnMode;
}
