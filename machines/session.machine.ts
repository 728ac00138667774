import { assign, cancel, emit, enqueueActions, fromCallback, raise, sendParent, sendTo, setup } from 'xstate';
import { UNEXPLAINED_EXIT } from './session.types.js';
import type {
  DeathCause,
  DisplayOutput,
  FileError,
  FileRequest,
  OutputStream,
  ProcessCommand,
  ProcessEvent,
  ProcessInbox,
  ProcessExit,
  ProcessInput,
  PythonError,
  SpawnMode,
  StopReason,
  WorkerResult,
} from './session.types.js';

/**
 * One Python session: spawning → warming → ready ⇄ busy → stopping → dead.
 *
 * The machine is pure. The OS process lives in the `process` actor, invoked for the whole life of
 * the session and supplied by src/ through `.provide()`; the machine only sends it commands and
 * reacts to what it reports. Nothing here awaits: every slow step is a state that ends on an event.
 */

export interface SessionTimings {
  /** Spawn until the worker's ready handshake. */
  startTimeoutMs: number;
  warmupTimeoutMs: number;
  pingTimeoutMs: number;
  /** After an interrupt (the execution's deadline or the caller's), how long the code may take to stop before the process is killed. */
  interruptGraceMs: number;
}

export interface SessionInput {
  id: string;
  spawn: SpawnMode;
  warmupCode: string | null;
  timings: SessionTimings;
}

interface Execution {
  requestId: number;
  timeoutMs: number | null;
  /** Who interrupted it, once someone has: its deadline, or the caller (INTERRUPT). */
  interruptedBy: 'deadline' | 'caller' | null;
}

export interface SessionContext {
  id: string;
  spawn: SpawnMode;
  warmupCode: string | null;
  timings: SessionTimings;
  pid: number | null;
  executions: number;
  current: Execution | null;
  cause: DeathCause | null;
  exit: ProcessExit | null;
}

export type SessionEvent =
  /** silent: no execution count, `_` left alone (tools such as completion run this way). */
  | { type: 'EXECUTE'; requestId: number; code: string; timeoutMs?: number; silent?: boolean }
  | { type: 'FILE'; requestId: number; request: FileRequest }
  | { type: 'INTERRUPT' }
  | { type: 'HEALTH_CHECK' }
  | { type: 'STOP'; reason: StopReason }
  | { type: 'EXECUTION_DEADLINE' }
  | ProcessEvent;

/** What a session tells whoever listens to it (the src/ bridge, an inspector, a test). */
export type SessionEmitted =
  | { type: 'output'; requestId: number; stream: OutputStream; text: string }
  | { type: 'display'; requestId: number; output: DisplayOutput }
  | { type: 'executed'; requestId: number; result: WorkerResult }
  | { type: 'fileDone'; requestId: number; data: string | null; error: FileError | null }
  | { type: 'executionFailed'; requestId: number; cause: DeathCause; exit: ProcessExit | null }
  | { type: 'rejected'; requestId: number; reason: 'busy' };

/**
 * What a session tells the pool that spawned it: that it is ready for work, and that it is going
 * (sent on entering `stopping`, whatever the reason), so that the pool stops granting a ready session
 * that stops on its own (a failed health check, a protocol error) at once.
 */
export type SessionReport = { type: 'session.ready'; sessionId: string; pid: number } | { type: 'session.stopping'; sessionId: string };

/** A dead session's output: the pool receives it as the `xstate.done.actor.<id>` event. */
export interface SessionOutput {
  cause: DeathCause;
  exit: ProcessExit | null;
}

const WARMUP_REQUEST = 0;
const DEADLINE_TIMER = 'executionDeadline';

function timeoutResult(timeoutMs: number, killed: boolean, executionCount: number): WorkerResult {
  const message = killed
    ? `execution exceeded ${timeoutMs} ms and did not stop when interrupted; its process was killed`
    : `execution exceeded ${timeoutMs} ms and was interrupted`;
  return endedResult('timeout', { name: 'TimeoutError', message, traceback: '' }, executionCount, timeoutMs);
}

/** The result the host makes up for an execution the worker could not end itself. */
function endedResult(status: 'timeout' | 'interrupted', error: PythonError, executionCount: number, durationMs: number): WorkerResult {
  return { status, value: null, data: null, error, executionCount, truncated: false, durationMs };
}

/** The result of an execution whose process was killed because it ignored its interrupt. */
function killedResult(execution: Execution, graceMs: number, executionCount: number): WorkerResult {
  if (execution.interruptedBy === 'deadline') return timeoutResult(execution.timeoutMs ?? 0, true, executionCount);
  const message = `execution did not stop within ${graceMs} ms of its interrupt; its process was killed`;
  return endedResult('interrupted', { name: 'KeyboardInterrupt', message, traceback: '' }, executionCount, 0);
}

/** Why a session whose execution ignored its interrupt was killed. */
function killCause(execution: Execution | null, graceMs: number): DeathCause {
  if (execution?.interruptedBy === 'caller') return { kind: 'interruptIgnored', graceMs };
  return { kind: 'executionTimeout', timeoutMs: execution?.timeoutMs ?? 0 };
}

function exitCause(event: Extract<ProcessEvent, { type: 'process.exited' }>): DeathCause {
  if (event.spawnError !== undefined) return { kind: 'spawnFailed', message: event.spawnError };
  if (event.overLimit !== undefined) return event.overLimit;
  const { exitCode, signal, diagnostics } = event;
  return { kind: 'exited', exitCode, signal, ...(diagnostics !== undefined ? { diagnostics } : {}) };
}

export const sessionMachine = setup({
  types: {
    input: {} as SessionInput,
    context: {} as SessionContext,
    events: {} as SessionEvent,
    emitted: {} as SessionEmitted,
    output: {} as SessionOutput,
  },
  actors: {
    // Replaced by src/ with the real Python process; this stub never starts anything.
    process: fromCallback<ProcessInbox, ProcessInput>(() => undefined),
  },
  delays: {
    startTimeout: ({ context }) => context.timings.startTimeoutMs,
    warmupTimeout: ({ context }) => context.timings.warmupTimeoutMs,
    pingTimeout: ({ context }) => context.timings.pingTimeoutMs,
    interruptGrace: ({ context }) => context.timings.interruptGraceMs,
  },
  guards: {
    needsWarmup: ({ context, event }) => context.warmupCode !== null && event.type === 'process.ready' && !event.warmed,
    warmupSucceeded: ({ event }) => event.type === 'process.result' && event.result.status === 'ok',
    isCurrentResult: ({ context, event }) =>
      (event.type === 'process.result' || event.type === 'process.file') && event.requestId === context.current?.requestId,
  },
  actions: {
    sendToProcess: sendTo('process', (_, command: ProcessCommand) => command),
    recordExit: assign(({ context, event }) => {
      if (event.type !== 'process.exited') return {};
      return {
        exit: { exitCode: event.exitCode, signal: event.signal },
        cause: context.cause ?? exitCause(event),
      };
    }),
    setCause: assign((_, cause: DeathCause) => ({ cause })),
    recordPid: assign(({ event }) => (event.type === 'process.ready' ? { pid: event.pid } : {})),
    recordWarmupFailure: assign(({ event }) => {
      if (event.type !== 'process.result') return {};
      const error = event.result.error ?? { name: 'Error', message: `warmup ended with status ${event.result.status}`, traceback: '' };
      return { cause: { kind: 'warmupFailed' as const, error } };
    }),
    reportReady: sendParent(({ context }) => ({
      type: 'session.ready' as const,
      sessionId: context.id,
      pid: context.pid ?? -1,
    })),
    startExecution: enqueueActions(({ enqueue, event }) => {
      if (event.type !== 'EXECUTE') return;
      const timeoutMs = event.timeoutMs ?? null;
      enqueue.assign({ current: { requestId: event.requestId, timeoutMs, interruptedBy: null } });
      enqueue.sendTo('process', {
        type: 'process.execute',
        requestId: event.requestId,
        code: event.code,
        silent: event.silent ?? false,
      } satisfies ProcessCommand);
      if (timeoutMs !== null) enqueue(raise({ type: 'EXECUTION_DEADLINE' }, { delay: timeoutMs, id: DEADLINE_TIMER }));
    }),
    // A file request is one thing the session does at a time, like an execution (without a deadline:
    // the worker answers it between cells, and a process that dies ends it like an execution).
    startFile: enqueueActions(({ event, enqueue }) => {
      if (event.type !== 'FILE') return;
      enqueue.assign({ current: { requestId: event.requestId, timeoutMs: null, interruptedBy: null } });
      enqueue.sendTo('process', { type: 'process.file', requestId: event.requestId, request: event.request } satisfies ProcessCommand);
    }),
    finishFile: enqueueActions(({ event, enqueue }) => {
      if (event.type !== 'process.file') return;
      enqueue.emit({ type: 'fileDone', requestId: event.requestId, data: event.data, error: event.error });
      enqueue.assign({ current: null });
    }),
    forwardOutput: enqueueActions(({ context, event, enqueue }) => {
      if (context.current === null || !('requestId' in event) || event.requestId !== context.current.requestId) return;
      const { requestId } = context.current;
      if (event.type === 'process.output') enqueue.emit({ type: 'output', requestId, stream: event.stream, text: event.text });
      if (event.type === 'process.display') enqueue.emit({ type: 'display', requestId, output: event.output });
    }),
    markInterrupted: assign(({ context }, by: 'deadline' | 'caller') => ({
      current: context.current === null ? null : { ...context.current, interruptedBy: by },
    })),
    finishExecution: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'process.result' || context.current === null) return;
      const interruptedByDeadline = context.current.interruptedBy === 'deadline' && event.result.status === 'interrupted';
      const result = interruptedByDeadline
        ? { ...timeoutResult(context.current.timeoutMs ?? 0, false, event.result.executionCount), durationMs: event.result.durationMs }
        : event.result;
      enqueue.emit({ type: 'executed', requestId: context.current.requestId, result });
      enqueue.assign({ current: null, executions: context.executions + 1 });
    }),
    reportKilled: enqueueActions(({ context, enqueue }) => {
      if (context.current === null) return;
      const result = killedResult(context.current, context.timings.interruptGraceMs, context.executions + 1);
      enqueue.emit({ type: 'executed', requestId: context.current.requestId, result });
      enqueue.assign({ current: null });
    }),
    failCurrentExecution: enqueueActions(({ context, enqueue }) => {
      if (context.current === null || context.cause === null) return;
      enqueue.emit({ type: 'executionFailed', requestId: context.current.requestId, cause: context.cause, exit: context.exit });
      enqueue.assign({ current: null });
    }),
    refuseExecution: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'EXECUTE' && event.type !== 'FILE') return;
      const cause = context.cause ?? { kind: 'protocolError' as const, message: 'the session is not ready for work' };
      enqueue.emit({ type: 'executionFailed', requestId: event.requestId, cause, exit: context.exit });
    }),
    reportStopping: sendParent(({ context }) => ({ type: 'session.stopping' as const, sessionId: context.id })),
    rejectBusy: emit(({ event }) => ({
      type: 'rejected' as const,
      requestId: event.type === 'EXECUTE' || event.type === 'FILE' ? event.requestId : -1,
      reason: 'busy' as const,
    })),
    cancelDeadline: cancel(DEADLINE_TIMER),
  },
}).createMachine({
  id: 'session',
  context: ({ input }) => ({
    id: input.id,
    spawn: input.spawn,
    warmupCode: input.warmupCode,
    timings: input.timings,
    pid: null,
    executions: 0,
    current: null,
    cause: null,
    exit: null,
  }),
  invoke: {
    id: 'process',
    src: 'process',
    input: ({ context }) => ({ sessionId: context.id, spawn: context.spawn }),
    onError: {
      target: '.dead',
      actions: assign(({ event }) => ({ cause: { kind: 'spawnFailed' as const, message: String(event.error) } })),
    },
  },
  initial: 'spawning',
  output: ({ context }) => ({
    cause: context.cause ?? UNEXPLAINED_EXIT,
    exit: context.exit,
  }),
  on: {
    // Only a ready session takes work (busy refuses with 'rejected'): anywhere else the call fails at once.
    EXECUTE: { actions: 'refuseExecution' },
    FILE: { actions: 'refuseExecution' },
    // Wherever the session is, a process that exits on its own kills the session.
    'process.exited': { target: '.dead', actions: 'recordExit' },
    'process.protocolError': {
      target: '.stopping',
      actions: assign(({ event }) => ({ cause: { kind: 'protocolError' as const, message: event.message } })),
    },
    STOP: {
      target: '.stopping',
      actions: assign(({ event }) => ({ cause: { kind: 'stopped' as const, reason: event.reason } })),
    },
  },
  states: {
    spawning: {
      on: {
        'process.ready': [
          { guard: 'needsWarmup', target: 'warming', actions: 'recordPid' },
          { target: 'ready', actions: ['recordPid', 'reportReady'] },
        ],
      },
      after: {
        startTimeout: {
          target: 'stopping',
          actions: { type: 'setCause', params: ({ context }) => ({ kind: 'startTimeout', timeoutMs: context.timings.startTimeoutMs }) },
        },
      },
    },
    warming: {
      entry: {
        type: 'sendToProcess',
        params: ({ context }) => ({
          type: 'process.execute',
          requestId: WARMUP_REQUEST,
          code: context.warmupCode ?? '',
          silent: true,
        }),
      },
      on: {
        'process.result': [
          { guard: 'warmupSucceeded', target: 'ready', actions: 'reportReady' },
          { target: 'stopping', actions: 'recordWarmupFailure' },
        ],
      },
      after: {
        warmupTimeout: {
          target: 'stopping',
          actions: { type: 'setCause', params: ({ context }) => ({ kind: 'warmupTimeout', timeoutMs: context.timings.warmupTimeoutMs }) },
        },
      },
    },
    ready: {
      initial: 'idle',
      on: {
        EXECUTE: { target: 'busy', actions: 'startExecution' },
        FILE: { target: 'busy.transferring', actions: 'startFile' },
      },
      states: {
        idle: {
          on: { HEALTH_CHECK: 'checking' },
        },
        checking: {
          entry: { type: 'sendToProcess', params: { type: 'process.ping' } },
          on: { 'process.pong': 'idle' },
          after: {
            pingTimeout: {
              target: '#session.stopping',
              actions: {
                type: 'setCause',
                params: ({ context }) => ({ kind: 'healthCheckFailed', timeoutMs: context.timings.pingTimeoutMs }),
              },
            },
          },
        },
      },
    },
    busy: {
      initial: 'running',
      exit: 'cancelDeadline',
      on: {
        EXECUTE: { actions: 'rejectBusy' },
        FILE: { actions: 'rejectBusy' },
        'process.output': { actions: 'forwardOutput' },
        'process.display': { actions: 'forwardOutput' },
      },
      states: {
        transferring: {
          on: {
            'process.file': { guard: 'isCurrentResult', target: '#session.ready', actions: 'finishFile' },
          },
        },
        running: {
          on: {
            // The caller's interrupt escalates like a deadline: code that ignores it is killed, so
            // an interrupt always ends the execution.
            INTERRUPT: { target: 'interrupting', actions: { type: 'markInterrupted', params: 'caller' } },
            EXECUTION_DEADLINE: { target: 'interrupting', actions: { type: 'markInterrupted', params: 'deadline' } },
            'process.result': { guard: 'isCurrentResult', target: '#session.ready', actions: 'finishExecution' },
          },
        },
        // The code was interrupted (deadline or caller) and has a grace period to stop.
        interrupting: {
          entry: { type: 'sendToProcess', params: { type: 'process.interrupt' } },
          on: {
            'process.result': { guard: 'isCurrentResult', target: '#session.ready', actions: 'finishExecution' },
          },
          after: { interruptGrace: 'killing' },
        },
        // The code ignored the interrupt (or sits in C code): the process goes, and the session with it.
        killing: {
          entry: [
            { type: 'setCause', params: ({ context }) => killCause(context.current, context.timings.interruptGraceMs) },
            { type: 'sendToProcess', params: { type: 'process.kill' } },
          ],
          on: {
            'process.exited': { target: '#session.dead', actions: ['recordExit', 'reportKilled'] },
          },
        },
      },
    },
    // The pool (or a failure) ended the session: kill the process and wait until the OS says it is gone.
    stopping: {
      entry: [{ type: 'sendToProcess', params: { type: 'process.kill' } }, 'reportStopping'],
      on: {
        'process.exited': { target: 'dead', actions: 'recordExit' },
        STOP: {},
        'process.protocolError': {},
      },
    },
    dead: {
      type: 'final',
      entry: 'failCurrentExecution',
    },
  },
});
