import type { PoolCounters } from '../machines/pool.ledger.js';
import type { DisplayOutput, ExecutionStatus, MimeBundle, OutputStream, PythonError } from '../machines/session.types.js';

export type {
  DeathCause,
  DisplayOutput,
  ExecutionStatus,
  FileError,
  MimeBundle,
  OutputStream,
  PythonError,
  StopReason,
} from '../machines/session.types.js';

/** The outcome of one execution. A Python exception is a result (status 'error'), not a throw. */
export interface ExecutionResult {
  status: ExecutionStatus;
  /** repr() of the trailing expression, as in a REPL; null when there is none or it is None. */
  value: string | null;
  /** The value's mime bundle in the Jupyter convention ('text/plain', 'text/html', 'image/png', ...). */
  data: Record<string, unknown> | null;
  error: PythonError | null;
  stdout: string;
  stderr: string;
  /** Counts this session's executions, like a notebook's In[n]. */
  executionCount: number;
  durationMs: number;
  /** True when output beyond maxOutputBytes was dropped. */
  truncated: boolean;
  /** Everything the cell showed, in order: streams, display()s, clear_output()s, then its value or its error. */
  outputs: ExecutionOutput[];
}

export interface StreamOutput {
  type: 'stream';
  stream: OutputStream;
  text: string;
}

/** What onOutput receives as it happens: printed text, display() and clear_output(). */
export type OutputChunk = StreamOutput | DisplayOutput;

export type ExecutionOutput =
  | OutputChunk
  | { type: 'result'; data: MimeBundle; executionCount: number }
  | { type: 'error'; error: PythonError };

export interface ExecuteOptions {
  /** At the deadline the code is interrupted; if it keeps running for interruptGraceMs, its process is killed. */
  timeoutMs?: number;
  /** Called as output happens, long before the result: streams and display outputs. */
  onOutput?: (chunk: OutputChunk) => void;
  /**
   * A tool's execution (completion, inspection): it does not count as an execution
   * (executionCount stays) and leaves `_` alone. Default false.
   */
  silent?: boolean;
  /** Aborting interrupts the execution. */
  signal?: AbortSignal;
  /**
   * False: output goes only to onOutput; the result's stdout and stderr are empty and its outputs
   * hold only the final value or error, so output is never held twice (a streaming server). Default true.
   */
  collectOutput?: boolean;
}

export interface ShutdownOptions {
  /**
   * How long executions (and file transfers) running when shutdown begins, or started meanwhile by
   * holders, may go on before every session is stopped. Default 0: stop at once. Infinity: wait
   * for them however long they take.
   */
  graceMs?: number;
}

export interface AcquireOptions {
  /** Overrides the pool's acquireTimeoutMs; Infinity waits without a deadline. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface PoolMetrics extends PoolCounters {
  /** Live sessions: idle + busy + starting. */
  total: number;
  idle: number;
  /** Leased to a caller. */
  busy: number;
  /** Spawning or warming. */
  starting: number;
  /** Being stopped; they still count against maxSessions until their process has exited. */
  stopping: number;
  waiting: number;
  /** Leases held longer than leaseWarningMs. */
  leaseWarnings: number;
}
