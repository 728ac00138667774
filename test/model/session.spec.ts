/**
 * The session machine's specification: machines/session.machine.ts state for state and transition
 * for transition, without `invoke` or `after`, so xstate/graph can walk it. A timeout is an event
 * (START_TIMEOUT, ...); a process report is an event named for what it means (READY, WARMUP_OK, ...).
 * The context holds only what the real machine's observable behaviour depends on.
 */
import { assign, setup } from 'xstate';
import type { DeathCause } from '../../machines/session.types.js';

export type SpecCause = DeathCause['kind'] | null;

export interface SessionSpecContext {
  warmup: boolean;
  /** session.ready sent to the parent (once, when it first becomes ready). */
  reported: boolean;
  cause: SpecCause;
  /** An execution is in flight (its caller still waits for an answer). */
  executing: boolean;
  /** Who interrupted the execution in flight: its result is then 'timeout' (deadline) or 'interrupted' (caller). */
  interruptedBy: 'deadline' | 'caller' | null;
}

export type SessionSpecEvent =
  | { type: 'READY' }
  /** Ready, and already warmed (forked from the pool's warmed template). */
  | { type: 'READY_WARMED' }
  | { type: 'WARMUP_OK' }
  | { type: 'WARMUP_FAIL' }
  | { type: 'START_TIMEOUT' }
  | { type: 'WARMUP_TIMEOUT' }
  | { type: 'HEALTH_CHECK' }
  | { type: 'PONG' }
  | { type: 'PING_TIMEOUT' }
  | { type: 'EXECUTE' }
  | { type: 'EXECUTE_WHILE_BUSY' }
  /** An EXECUTE that reaches a session not ready for work (starting, or stopping): refused at once. */
  | { type: 'EXECUTE_NOT_READY' }
  | { type: 'OUTPUT' }
  /** A file request (writeFile/readFile): one thing at a time, like an execution. */
  | { type: 'FILE' }
  | { type: 'FILE_WHILE_BUSY' }
  | { type: 'FILE_NOT_READY' }
  /** The worker's answer to the file request. */
  | { type: 'FILE_DONE' }
  | { type: 'INTERRUPT' }
  | { type: 'EXECUTION_DEADLINE' }
  | { type: 'RESULT' }
  | { type: 'INTERRUPT_GRACE' }
  | { type: 'CRASH' }
  | { type: 'PROTOCOL_ERROR' }
  | { type: 'STOP' }
  | { type: 'PROCESS_ACTOR_ERROR' };

export const sessionSpec = setup({
  types: { context: {} as SessionSpecContext, events: {} as SessionSpecEvent, input: {} as { warmup: boolean } },
  guards: { needsWarmup: ({ context, event }) => context.warmup && event.type === 'READY' },
  actions: {
    setCause: assign((_, kind: NonNullable<SpecCause>) => ({ cause: kind })),
    report: assign({ reported: () => true }),
    recordExit: assign({ cause: ({ context }) => context.cause ?? 'exited' }),
    finish: assign({ executing: () => false, interruptedBy: () => null }),
    interruptedBy: assign((_, by: 'deadline' | 'caller') => ({ interruptedBy: by })),
    killCause: assign(({ context }) => ({
      cause: context.interruptedBy === 'caller' ? ('interruptIgnored' as const) : ('executionTimeout' as const),
    })),
  },
}).createMachine({
  id: 'session',
  context: ({ input }) => ({ warmup: input.warmup, reported: false, cause: null, executing: false, interruptedBy: null }),
  initial: 'spawning',
  on: {
    CRASH: { target: '.dead', actions: 'recordExit' },
    PROTOCOL_ERROR: { target: '.stopping', actions: { type: 'setCause', params: 'protocolError' } },
    STOP: { target: '.stopping', actions: { type: 'setCause', params: 'stopped' } },
    PROCESS_ACTOR_ERROR: { target: '.dead', actions: { type: 'setCause', params: 'spawnFailed' } },
  },
  states: {
    spawning: {
      on: {
        READY: [
          { guard: 'needsWarmup', target: 'warming' },
          { target: 'ready', actions: 'report' },
        ],
        READY_WARMED: { target: 'ready', actions: 'report' },
        START_TIMEOUT: { target: 'stopping', actions: { type: 'setCause', params: 'startTimeout' } },
        EXECUTE_NOT_READY: {},
        FILE_NOT_READY: {},
      },
    },
    warming: {
      on: {
        WARMUP_OK: { target: 'ready', actions: 'report' },
        WARMUP_FAIL: { target: 'stopping', actions: { type: 'setCause', params: 'warmupFailed' } },
        WARMUP_TIMEOUT: { target: 'stopping', actions: { type: 'setCause', params: 'warmupTimeout' } },
        EXECUTE_NOT_READY: {},
        FILE_NOT_READY: {},
      },
    },
    ready: {
      initial: 'idle',
      on: {
        EXECUTE: { target: 'busy', actions: assign({ executing: () => true }) },
        FILE: { target: 'busy.transferring', actions: assign({ executing: () => true }) },
      },
      states: {
        idle: { on: { HEALTH_CHECK: 'checking' } },
        checking: {
          on: {
            PONG: 'idle',
            PING_TIMEOUT: { target: '#session.stopping', actions: { type: 'setCause', params: 'healthCheckFailed' } },
          },
        },
      },
    },
    busy: {
      initial: 'running',
      on: { EXECUTE_WHILE_BUSY: {}, FILE_WHILE_BUSY: {}, OUTPUT: {} },
      states: {
        transferring: {
          on: { FILE_DONE: { target: '#session.ready', actions: 'finish' } },
        },
        running: {
          on: {
            INTERRUPT: { target: 'interrupting', actions: { type: 'interruptedBy', params: 'caller' } },
            EXECUTION_DEADLINE: { target: 'interrupting', actions: { type: 'interruptedBy', params: 'deadline' } },
            RESULT: { target: '#session.ready', actions: 'finish' },
          },
        },
        interrupting: {
          on: {
            RESULT: { target: '#session.ready', actions: 'finish' },
            INTERRUPT_GRACE: 'killing',
          },
        },
        killing: {
          entry: 'killCause',
          on: { CRASH: { target: '#session.dead', actions: ['recordExit', 'finish'] } },
        },
      },
    },
    stopping: {
      on: { CRASH: { target: 'dead', actions: 'recordExit' }, STOP: {}, PROTOCOL_ERROR: {}, EXECUTE_NOT_READY: {}, FILE_NOT_READY: {} },
    },
    dead: { type: 'final', entry: 'finish' },
  },
});

/**
 * Real transition (as graph.ts keys it) -> spec transition. A real transition missing here fails the
 * conformance test: the machine gained behaviour the specification (and so the paths) lack.
 */
export const sessionMapping: Record<string, string | string[]> = {
  'session | process.exited -> session.dead': 'session | CRASH -> session.dead',
  'session | process.protocolError -> session.stopping': 'session | PROTOCOL_ERROR -> session.stopping',
  'session | STOP -> session.stopping': 'session | STOP -> session.stopping',
  'session | EXECUTE -> (self)': [
    'session.spawning | EXECUTE_NOT_READY -> (self)',
    'session.warming | EXECUTE_NOT_READY -> (self)',
    'session.stopping | EXECUTE_NOT_READY -> (self)',
  ],
  'session | FILE -> (self)': [
    'session.spawning | FILE_NOT_READY -> (self)',
    'session.warming | FILE_NOT_READY -> (self)',
    'session.stopping | FILE_NOT_READY -> (self)',
  ],
  'session.ready | FILE -> session.busy.transferring': 'session.ready | FILE -> session.busy.transferring',
  'session.busy | FILE -> (self)': 'session.busy | FILE_WHILE_BUSY -> (self)',
  'session.busy.transferring | process.file [isCurrentResult] -> session.ready': 'session.busy.transferring | FILE_DONE -> session.ready',
  'session | xstate.error.actor.process -> session.dead': 'session | PROCESS_ACTOR_ERROR -> session.dead',
  'session.spawning | process.ready [needsWarmup] -> session.warming': 'session.spawning | READY [needsWarmup] -> session.warming',
  'session.spawning | process.ready -> session.ready': [
    'session.spawning | READY -> session.ready',
    'session.spawning | READY_WARMED -> session.ready',
  ],
  'session.spawning | xstate.after.startTimeout.session.spawning -> session.stopping':
    'session.spawning | START_TIMEOUT -> session.stopping',
  'session.warming | process.result [warmupSucceeded] -> session.ready': 'session.warming | WARMUP_OK -> session.ready',
  'session.warming | process.result -> session.stopping': 'session.warming | WARMUP_FAIL -> session.stopping',
  'session.warming | xstate.after.warmupTimeout.session.warming -> session.stopping':
    'session.warming | WARMUP_TIMEOUT -> session.stopping',
  'session.ready | EXECUTE -> session.busy': 'session.ready | EXECUTE -> session.busy',
  'session.ready.idle | HEALTH_CHECK -> session.ready.checking': 'session.ready.idle | HEALTH_CHECK -> session.ready.checking',
  'session.ready.checking | process.pong -> session.ready.idle': 'session.ready.checking | PONG -> session.ready.idle',
  'session.ready.checking | xstate.after.pingTimeout.session.ready.checking -> session.stopping':
    'session.ready.checking | PING_TIMEOUT -> session.stopping',
  'session.busy | EXECUTE -> (self)': 'session.busy | EXECUTE_WHILE_BUSY -> (self)',
  'session.busy | process.output -> (self)': 'session.busy | OUTPUT -> (self)',
  // A display() is output too: the same self-transition, emitted as 'display'.
  'session.busy | process.display -> (self)': 'session.busy | OUTPUT -> (self)',
  'session.busy.running | INTERRUPT -> session.busy.interrupting': 'session.busy.running | INTERRUPT -> session.busy.interrupting',
  'session.busy.running | EXECUTION_DEADLINE -> session.busy.interrupting':
    'session.busy.running | EXECUTION_DEADLINE -> session.busy.interrupting',
  'session.busy.running | process.result [isCurrentResult] -> session.ready': 'session.busy.running | RESULT -> session.ready',
  'session.busy.interrupting | process.result [isCurrentResult] -> session.ready': 'session.busy.interrupting | RESULT -> session.ready',
  'session.busy.interrupting | xstate.after.interruptGrace.session.busy.interrupting -> session.busy.killing':
    'session.busy.interrupting | INTERRUPT_GRACE -> session.busy.killing',
  'session.busy.killing | process.exited -> session.dead': 'session.busy.killing | CRASH -> session.dead',
  'session.stopping | process.exited -> session.dead': 'session.stopping | CRASH -> session.dead',
  'session.stopping | STOP -> (self)': 'session.stopping | STOP -> (self)',
  'session.stopping | process.protocolError -> (self)': 'session.stopping | PROTOCOL_ERROR -> (self)',
};
