/**
 * The template machine's specification: machines/template.machine.ts state for state and
 * transition for transition, without `invoke` or `after`, so xstate/graph can walk it. A deadline
 * is an event (START_TIMEOUT, WARMUP_TIMEOUT, RESTART_DELAY); a report of the template process is
 * an event named for what it means (STARTED, READY_SAFE, READY_UNSAFE, EXITED).
 *
 * The context holds what the observable behaviour depends on: the consecutive failures (capped at
 * FAILURES_CAP, where the backoff saturates), whether the current state's deadline is still armed
 * (an `after` fires once per entry) and whether a template process is running. `out` is history,
 * not state: what the machine owes the outside on each step (commands to the process, reports to
 * the pool), appended in the order the spec owes them; a step owes what it appended.
 * serializeTemplateSpec leaves it out of a state's identity.
 */
import { assign, setup } from 'xstate';
import type { Backoff } from '../../machines/backoff.js';

/** Timings and backoff of the replays: backoffDelay saturates at maxMs from the third failure on. */
export const TEMPLATE_TIMINGS = { startTimeoutMs: 100, warmupTimeoutMs: 200 };
export const TEMPLATE_BACKOFF: Backoff = { initialMs: 1000, maxMs: 4000 };
/** retryInMs after 1, 2, 3 (and more) consecutive failures: written out, not computed with backoffDelay. */
export const RETRY_MS = [0, 1000, 2000, 4000] as const;
export const FAILURES_CAP = 3;

/** One observable effect of a step: a command to the process or a report to the parent. */
export type TemplateOut = 'kill' | 'up' | `down ${number}` | 'unsafe' | 'spawn' | 'stop process';

export interface TemplateSpecContext {
  failures: number;
  /** The current state's `after` deadline has not fired yet. */
  armed: boolean;
  /** History: effects owed by the last step. */
  out: TemplateOut[];
}

export type TemplateSpecEvent =
  | { type: 'STARTED' }
  | { type: 'READY_SAFE' }
  | { type: 'READY_UNSAFE' }
  | { type: 'EXITED' }
  | { type: 'START_TIMEOUT' }
  | { type: 'WARMUP_TIMEOUT' }
  | { type: 'RESTART_DELAY' }
  | { type: 'STOP' };

export const TEMPLATE_EVENTS: TemplateSpecEvent[] = (
  ['STARTED', 'READY_SAFE', 'READY_UNSAFE', 'EXITED', 'START_TIMEOUT', 'WARMUP_TIMEOUT', 'RESTART_DELAY', 'STOP'] as const
).map((type) => ({ type }));

/** Owes `out` to the outside. */
const owe = (out: TemplateOut) => ({ type: 'owe' as const, params: { out } });

export const templateSpec = setup({
  types: { context: {} as TemplateSpecContext, events: {} as TemplateSpecEvent },
  guards: { armed: ({ context }) => context.armed },
  actions: {
    arm: assign({ armed: () => true }),
    disarm: assign({ armed: () => false }),
    owe: assign(({ context }, params: { out: TemplateOut }) => ({ out: [...context.out, params.out] })),
    fail: assign({ failures: ({ context }) => Math.min(FAILURES_CAP, context.failures + 1) }),
    reportDown: assign(({ context }) => ({ out: [...context.out, `down ${RETRY_MS[context.failures]!}` as TemplateOut] })),
  },
}).createMachine({
  id: 'template',
  context: { failures: 0, armed: false, out: [] },
  initial: 'running',
  states: {
    running: {
      entry: owe('spawn'),
      exit: owe('stop process'),
      initial: 'starting',
      on: {
        EXITED: { target: 'dead', actions: ['fail', 'reportDown'] },
        STOP: '.stopping',
      },
      states: {
        starting: {
          entry: 'arm',
          on: {
            START_TIMEOUT: { guard: 'armed', actions: ['disarm', owe('kill')] },
            STARTED: 'warming',
          },
        },
        warming: {
          entry: 'arm',
          on: {
            WARMUP_TIMEOUT: { guard: 'armed', actions: ['disarm', owe('kill')] },
            READY_SAFE: { target: 'ready', actions: [assign({ failures: 0 }), owe('up')] },
            READY_UNSAFE: { target: 'retiring', actions: owe('unsafe') },
          },
        },
        ready: {},
        retiring: {
          entry: owe('kill'),
          on: { EXITED: '#template.unsafe', STOP: '#template.running.stopping' },
        },
        stopping: {
          entry: owe('kill'),
          on: { EXITED: '#template.stopped', STOP: {} },
        },
      },
    },
    dead: {
      on: { RESTART_DELAY: 'running', STOP: 'stopped' },
    },
    unsafe: {
      on: { STOP: 'stopped' },
    },
    stopped: { type: 'final' },
  },
});

/** A spec state's identity for path generation: value, failures and the armed deadline (not the history). */
export const serializeTemplateSpec = (snapshot: unknown): string => {
  const { value, context } = snapshot as { value: unknown; context: TemplateSpecContext };
  return JSON.stringify({ value, failures: context.failures, armed: context.armed });
};

/** Real transition (as graph.ts keys it) -> spec transitions. */
export const templateMapping: Record<string, string | string[]> = {
  'template.running | template.exited -> template.dead': 'template.running | EXITED -> template.dead',
  'template.running | STOP -> template.running.stopping': 'template.running | STOP -> template.running.stopping',
  'template.running.starting | template.started -> template.running.warming': 'template.running.starting | STARTED -> template.running.warming',
  'template.running.starting | xstate.after.startTimeout.template.running.starting -> (self)': 'template.running.starting | START_TIMEOUT [armed] -> (self)',
  'template.running.warming | template.ready [forkSafe] -> template.running.ready': 'template.running.warming | READY_SAFE -> template.running.ready',
  'template.running.warming | template.ready -> template.running.retiring': 'template.running.warming | READY_UNSAFE -> template.running.retiring',
  'template.running.warming | xstate.after.warmupTimeout.template.running.warming -> (self)': 'template.running.warming | WARMUP_TIMEOUT [armed] -> (self)',
  'template.running.retiring | template.exited -> template.unsafe': 'template.running.retiring | EXITED -> template.unsafe',
  'template.running.retiring | STOP -> template.running.stopping': 'template.running.retiring | STOP -> template.running.stopping',
  'template.running.stopping | template.exited -> template.stopped': 'template.running.stopping | EXITED -> template.stopped',
  'template.running.stopping | STOP -> (self)': 'template.running.stopping | STOP -> (self)',
  'template.dead | STOP -> template.stopped': 'template.dead | STOP -> template.stopped',
  'template.dead | xstate.after.restartDelay.template.dead -> template.running': 'template.dead | RESTART_DELAY -> template.running',
  'template.unsafe | STOP -> template.stopped': 'template.unsafe | STOP -> template.stopped',
};
