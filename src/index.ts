export { SessionPool, type PoolRuntime, type SessionPoolEvents } from './pool.js';
export type { ProcessLogic, ProcessSettings } from './process/python-process.js';
export type { TemplateProcessLogic } from './process/template-process.js';
export type { PoolSnapshot, SessionSnapshot, WaiterSnapshot } from './observe/snapshot.js';
export type { TraceEntry } from './observe/trace.js';
export { Session } from './session.js';
export type { SessionLimits, SessionPoolOptions } from './options.js';
export type { SandboxBind, SandboxOptions } from './sandbox/options.js';
export type { HostReport } from './sandbox/probe.js';
export type {
  AcquireOptions,
  DeathCause,
  ExecuteOptions,
  FileError,
  ExecutionResult,
  ExecutionStatus,
  OutputChunk,
  ExecutionOutput,
  StreamOutput,
  DisplayOutput,
  MimeBundle,
  OutputStream,
  PoolMetrics,
  PythonError,
  ShutdownOptions,
  StopReason,
} from './types.js';
export {
  AcquireTimeoutError,
  CodeTooLargeError,
  InvalidOptionError,
  MissingDependencyError,
  PoolClosedError,
  PyRepl3Error,
  SandboxUnavailableError,
  SessionBusyError,
  SessionDiedError,
  SessionFileError,
  SessionReleasedError,
  SessionStartError,
} from './errors.js';
export { poolMachine } from '../machines/pool.machine.js';
export { sessionMachine } from '../machines/session.machine.js';
