import pino, { type Logger } from 'pino';
import type { InspectionEvent, Observer } from 'xstate';
import type { PoolConfig } from '../machines/pool.machine.js';
import { InvalidOptionError } from './errors.js';
import { rejectUnknownKeys } from './known-keys.js';
import { sandboxSettings, type SandboxOptions, type SandboxSettings } from './sandbox/options.js';

/**
 * Per-session resource limits. In a sandbox, diskBytes (its tmpfs) and, where the pool could make
 * the session's cgroups, memoryBytes, maxProcesses and cpuSeconds hold for all the session's
 * processes together; otherwise they are per-process rlimits.
 */
export interface SessionLimits {
  /** Sandboxed: the session's memory cgroup (past it the kernel kills, cause 'oom'). Otherwise RLIMIT_AS of the process. */
  memoryBytes?: number;
  /** CPU time over the session's life (sandboxed: all its processes; cause 'cpuLimit'), and RLIMIT_CPU of each process. */
  cpuSeconds?: number;
  /** Output kept per execution, stdout and stderr together; the rest is dropped and the result says truncated. */
  maxOutputBytes?: number;
  /** Sandboxed: the session's pids cgroup (threads count). Otherwise RLIMIT_NPROC (per uid; a root host ignores it). */
  maxProcesses?: number;
  /** RLIMIT_NOFILE. */
  maxOpenFiles?: number;
  /** Code larger than this is refused with CodeTooLargeError before it reaches Python. */
  maxCodeBytes?: number;
  /** Sandboxed: the size of the session's writable tmpfs (its folder, /tmp, /dev/shm). Otherwise RLIMIT_FSIZE, per file. */
  diskBytes?: number;
}

export interface SessionPoolOptions {
  /** Sessions kept warm and idle, ready to be granted at once. Default 1. */
  minIdle?: number;
  /**
   * Hard cap on sessions, starting and stopping ones included. Default max(4, minIdle). Not a cap
   * on processes: the fork template and its spare, a sandbox's monitor and init, and what user code
   * starts are not counted.
   */
  maxSessions?: number;
  /** Code every session runs before it is first granted (imports, setup). */
  warmupCode?: string;
  /**
   * 'exec' (default): every session is a new interpreter. 'fork': sessions are forked from a
   * template process that has already run warmupCode — a new session in milliseconds, memory
   * shared copy-on-write. While the template is down the pool uses 'exec'.
   */
  spawn?: 'fork' | 'exec';
  /** The Python command or path. Default 'python3'. */
  pythonPath?: string;
  /** How long acquire() waits by default. Default 30 000; Infinity waits without a deadline. */
  acquireTimeoutMs?: number;
  /** Idle sessions are pinged this often; one that does not answer is replaced. Default 30 000; 0 turns it off. */
  healthCheckIntervalMs?: number;
  /** 'keep' (default): a released session keeps its state. 'recycle': its process and working folder are replaced. */
  releasePolicy?: 'keep' | 'recycle';
  /** Retire a session (at release, never mid-execution) after this many executions. Default: never. */
  maxExecutionsPerSession?: number;
  /** Retire a session once this old (at release if it is leased). Default: never. */
  maxSessionAgeMs?: number;
  /** Retire an idle session above minIdle after this long unused. Default 300 000; Infinity: never. */
  idleTimeoutMs?: number;
  limits?: SessionLimits;
  /** Extra environment variables for sessions. They start with PATH, HOME and LANG only. */
  env?: Record<string, string>;
  /** Spawn until the worker's handshake. Default 10 000. */
  startTimeoutMs?: number;
  /** Default 60 000. */
  warmupTimeoutMs?: number;
  /** Default 5 000. */
  pingTimeoutMs?: number;
  /** After an interrupt (a deadline's or interrupt()), how long the code may take to stop before its process is killed. Default 2 000. */
  interruptGraceMs?: number;
  /** A pino logger; the pool logs through child loggers of it. Default: warnings to stderr. */
  logger?: Logger;
  /** Keep the last this-many supervisor events for pool.trace(). Default 0 (off: tracing costs 2-3x per event). */
  traceSize?: number;
  /** Warn (with the acquire's stack) when a session is held longer than this. Default: off. */
  leaseWarningMs?: number;
  /** An XState inspection observer, attached to the supervisor and every session actor. */
  inspect?: Observer<InspectionEvent> | ((event: InspectionEvent) => void);
  /**
   * Run every session in its own sandbox (Linux: namespaces, cgroups, an unprivileged uid, seccomp;
   * docs/security.md). Default false: an unsandboxed session can do whatever the host's user can.
   * A host that cannot build the sandbox fails start() with SandboxUnavailableError.
   */
  sandbox?: boolean | SandboxOptions;
}

export interface NormalizedOptions {
  config: PoolConfig;
  limits: SessionLimits;
  pythonPath: string;
  acquireTimeoutMs: number | null;
  env: Record<string, string>;
  logger: Logger;
  inspect: SessionPoolOptions['inspect'];
  traceSize: number;
  leaseWarningMs: number | null;
  sandbox: SandboxSettings | null;
}

const HOST_VARIABLES_KEPT = ['PATH', 'HOME', 'LANG'] as const;

function count(options: SessionPoolOptions, name: keyof SessionPoolOptions, fallback: number, min = 0): number {
  const value = options[name] ?? fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
    throw new InvalidOptionError(`${name} must be an integer >= ${min}, got ${String(value)}`);
  }
  return value;
}

function duration(options: SessionPoolOptions, name: keyof SessionPoolOptions, fallback: number): number {
  const value = options[name] ?? fallback;
  if (typeof value !== 'number' || Number.isNaN(value) || value < 0) {
    throw new InvalidOptionError(`${name} must be a number of milliseconds >= 0, got ${String(value)}`);
  }
  return value;
}

/** A deadline in ms, or null for none (Infinity). Shared by the pool option and acquire(). */
export function deadline(name: string, value: number): number | null {
  if (typeof value !== 'number' || Number.isNaN(value) || value < 0) {
    throw new InvalidOptionError(`${name} must be a number of milliseconds >= 0 or Infinity, got ${String(value)}`);
  }
  return value === Infinity ? null : value;
}

/** Every option, listed once: the compiler says when one is added to the interface but not here. */
const OPTION_NAMES = Object.keys({
  minIdle: true,
  maxSessions: true,
  warmupCode: true,
  spawn: true,
  pythonPath: true,
  acquireTimeoutMs: true,
  healthCheckIntervalMs: true,
  releasePolicy: true,
  maxExecutionsPerSession: true,
  maxSessionAgeMs: true,
  idleTimeoutMs: true,
  limits: true,
  env: true,
  startTimeoutMs: true,
  warmupTimeoutMs: true,
  pingTimeoutMs: true,
  interruptGraceMs: true,
  logger: true,
  traceSize: true,
  leaseWarningMs: true,
  inspect: true,
  sandbox: true,
} satisfies Record<keyof SessionPoolOptions, true>) as Array<keyof SessionPoolOptions>;

const LIMIT_NAMES = Object.keys({
  memoryBytes: true,
  cpuSeconds: true,
  maxOutputBytes: true,
  maxProcesses: true,
  maxOpenFiles: true,
  maxCodeBytes: true,
  diskBytes: true,
} satisfies Record<keyof SessionLimits, true>) as Array<keyof SessionLimits>;

function sessionLimits(limits: SessionLimits | undefined): SessionLimits {
  const checked: SessionLimits = {};
  if (limits === undefined) return checked;
  if (typeof limits !== 'object' || limits === null) throw new InvalidOptionError('limits must be an object');
  rejectUnknownKeys(limits, LIMIT_NAMES, 'limits.');
  for (const name of LIMIT_NAMES) {
    const value = limits[name];
    if (value === undefined) continue;
    if (!Number.isInteger(value) || value <= 0)
      throw new InvalidOptionError(`limits.${name} must be a positive integer, got ${String(value)}`);
    checked[name] = value;
  }
  return checked;
}

function sessionEnv(extra: Record<string, string> | undefined): Record<string, string> {
  const env: Record<string, string> = {};
  if (extra !== undefined && (typeof extra !== 'object' || extra === null))
    throw new InvalidOptionError('env must be an object of strings');
  for (const name of HOST_VARIABLES_KEPT) {
    const value = process.env[name];
    if (value !== undefined) env[name] = value;
  }
  for (const [name, value] of Object.entries(extra ?? {})) {
    if (typeof value !== 'string') throw new InvalidOptionError(`env.${name} must be a string`);
    env[name] = value;
  }
  return env;
}

export function normalizeOptions(options: SessionPoolOptions): NormalizedOptions {
  if (typeof options !== 'object' || options === null) throw new InvalidOptionError('options must be an object');
  rejectUnknownKeys(options, OPTION_NAMES);
  const minIdle = count(options, 'minIdle', 1);
  const maxSessions = count(options, 'maxSessions', Math.max(4, minIdle), 1);
  if (minIdle > maxSessions) {
    throw new InvalidOptionError(`minIdle (${minIdle}) must not exceed maxSessions (${maxSessions})`);
  }
  const releasePolicy = options.releasePolicy ?? 'keep';
  if (releasePolicy !== 'keep' && releasePolicy !== 'recycle') {
    throw new InvalidOptionError(`releasePolicy must be 'keep' or 'recycle', got ${String(releasePolicy)}`);
  }
  const spawn = options.spawn ?? 'exec';
  if (spawn !== 'exec' && spawn !== 'fork') throw new InvalidOptionError(`spawn must be 'fork' or 'exec', got ${String(spawn)}`);
  const warmupCode = options.warmupCode ?? null;
  if (warmupCode !== null && typeof warmupCode !== 'string') throw new InvalidOptionError('warmupCode must be a string');
  const pythonPath = options.pythonPath ?? 'python3';
  if (typeof pythonPath !== 'string' || pythonPath === '') throw new InvalidOptionError('pythonPath must be a non-empty string');
  return {
    config: {
      minIdle,
      maxSessions,
      healthCheckIntervalMs: duration(options, 'healthCheckIntervalMs', 30_000),
      releasePolicy,
      maxExecutionsPerSession: options.maxExecutionsPerSession === undefined ? null : count(options, 'maxExecutionsPerSession', 0, 1),
      maxSessionAgeMs: deadline('maxSessionAgeMs', options.maxSessionAgeMs ?? Infinity),
      idleTimeoutMs: deadline('idleTimeoutMs', options.idleTimeoutMs ?? 300_000),
      backoff: { initialMs: 100, maxMs: 10_000 },
      spawn,
      session: {
        warmupCode,
        timings: {
          startTimeoutMs: duration(options, 'startTimeoutMs', 10_000),
          warmupTimeoutMs: duration(options, 'warmupTimeoutMs', 60_000),
          pingTimeoutMs: duration(options, 'pingTimeoutMs', 5_000),
          interruptGraceMs: duration(options, 'interruptGraceMs', 2_000),
        },
      },
    },
    limits: sessionLimits(options.limits),
    pythonPath,
    acquireTimeoutMs: deadline('acquireTimeoutMs', options.acquireTimeoutMs ?? 30_000),
    env: sessionEnv(options.env),
    logger: options.logger ?? pino({ level: 'warn' }, pino.destination(2)),
    inspect: options.inspect,
    traceSize: count(options, 'traceSize', 0),
    leaseWarningMs: deadline('leaseWarningMs', options.leaseWarningMs ?? Infinity),
    sandbox: sandboxSettings(options.sandbox),
  };
}
