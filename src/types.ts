import type { PoolCounters } from '../machines/pool.ledger.js';
import type { ExecutionStatus, OutputStream, PythonError } from '../machines/session.types.js';

export type { DeathCause, ExecutionStatus, FileError, OutputStream, PythonError, StopReason } from '../machines/session.types.js';

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
}

export interface OutputChunk {
  stream: OutputStream;
  text: string;
}

export interface ExecuteOptions {
  /** At the deadline the code is interrupted; if it keeps running, its process is killed. */
  timeoutMs?: number;
  /** Called as output happens, long before the result. */
  onOutput?: (chunk: OutputChunk) => void;
  /** Aborting interrupts the execution. */
  signal?: AbortSignal;
  /**
   * False: output goes only to onOutput and the result's stdout and stderr are empty, so output
   * is never held twice (a streaming server). Default true.
   */
  collectOutput?: boolean;
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
