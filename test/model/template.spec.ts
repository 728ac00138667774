/**
 * The template machine's specification: machines/template.machine.ts state for state and
 * transition for transition, without `invoke` or `after`, so xstate/graph can walk it. A deadline
 * is an event (START_TIMEOUT, WARMUP_TIMEOUT, RESTART_DELAY); a report of the template process is
 * an event named for what it means (STARTED, READY_SAFE, READY_UNSAFE, EXITED).
 *
 * The spare: a ready template orders one at once (ordering), keeps it (stocked) or, after a failed
 * order, has none (empty). Sessions' processes ask for it (REQUEST, CANCEL); the template process
 * reports it ready or lost (SPARE_READY, SPARE_LOST); FORK_TIMEOUT is the order's deadline.
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
export const TEMPLATE_TIMINGS = { startTimeoutMs: 100, warmupTimeoutMs: 200, forkTimeoutMs: 300 };
export const TEMPLATE_BACKOFF: Backoff = { initialMs: 1000, maxMs: 4000 };
/** retryInMs after 1, 2, 3 (and more) consecutive failures: written out, not computed with backoffDelay. */
export const RETRY_MS = [0, 1000, 2000, 4000] as const;
export const FAILURES_CAP = 3;
/** Requests waiting for a spare at once, at most (the graph must stay finite). */
export const ASKERS_CAP = 2;

/** One observable effect of a step: a command to the process or a report to the parent. */
export type TemplateOut =
  | 'kill'
  | 'up'
  | `down ${number}`
  | 'unsafe'
  | 'spawn'
  | 'stop process'
  | 'order'
  | 'letGo'
  | 'granted'
  | 'refused';

export interface TemplateSpecContext {
  failures: number;
  /** The current state's `after` deadline has not fired yet. */
  armed: boolean;
  /** Requests waiting for the spare on order. */
  askers: number;
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
  | { type: 'STOP' }
  | { type: 'REQUEST' }
  | { type: 'CANCEL' }
  | { type: 'SPARE_READY' }
  | { type: 'SPARE_LOST' }
  | { type: 'FORK_TIMEOUT' };

export const TEMPLATE_EVENTS: TemplateSpecEvent[] = (
  [
    'STARTED',
    'READY_SAFE',
    'READY_UNSAFE',
    'EXITED',
    'START_TIMEOUT',
    'WARMUP_TIMEOUT',
    'RESTART_DELAY',
    'STOP',
    'REQUEST',
    'CANCEL',
    'SPARE_READY',
    'SPARE_LOST',
    'FORK_TIMEOUT',
  ] as const
).map((type) => ({ type }));

/** The events worth trying in a state: not one more request than the spec counts (the graph stays finite). */
export function templateEventsIn(snapshot: { matches(value: never): boolean; context: TemplateSpecContext }): TemplateSpecEvent[] {
  const full = snapshot.context.askers >= ASKERS_CAP;
  return TEMPLATE_EVENTS.filter((event) => event.type !== 'REQUEST' || !full);
}

/** Owes `out` to the outside. */
const owe = (out: TemplateOut) => ({ type: 'owe' as const, params: { out } });

export const templateSpec = setup({
  types: { context: {} as TemplateSpecContext, events: {} as TemplateSpecEvent },
  guards: {
    armed: ({ context }) => context.armed,
    someoneAsks: ({ context }) => context.askers > 0,
    room: ({ context }) => context.askers < ASKERS_CAP,
  },
  actions: {
    arm: assign({ armed: () => true }),
    disarm: assign({ armed: () => false }),
    owe: assign(({ context }, params: { out: TemplateOut }) => ({ out: [...context.out, params.out] })),
    fail: assign({ failures: ({ context }) => Math.min(FAILURES_CAP, context.failures + 1) }),
    reportDown: assign(({ context }) => ({ out: [...context.out, `down ${RETRY_MS[context.failures]!}` as TemplateOut] })),
    ask: assign({ askers: ({ context }) => context.askers + 1 }),
    /** The oldest asker (or the one asking now) gets the spare. */
    grant: assign(({ context }) => ({ askers: Math.max(0, context.askers - 1), out: [...context.out, 'granted' as const] })),
    cancel: assign({ askers: ({ context }) => context.askers - 1 }),
    refuseAll: assign(({ context }) => ({
      askers: 0,
      out: [...context.out, ...Array.from({ length: context.askers }, () => 'refused' as const)],
    })),
  },
}).createMachine({
  id: 'template',
  context: { failures: 0, armed: false, askers: 0, out: [] },
  initial: 'running',
  on: { REQUEST: { actions: owe('refused') } },
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
        ready: {
          initial: 'ordering',
          exit: 'refuseAll',
          states: {
            ordering: {
              entry: owe('order'),
              on: {
                // Split by whether someone waits, so that the paths must show both.
                FORK_TIMEOUT: [
                  { guard: 'someoneAsks', target: 'empty', actions: [owe('letGo'), 'refuseAll'] },
                  { target: 'empty', actions: owe('letGo') },
                ],
                REQUEST: { guard: 'room', actions: 'ask' },
                CANCEL: { guard: 'someoneAsks', actions: 'cancel' },
                SPARE_READY: [{ guard: 'someoneAsks', target: 'ordering', reenter: true, actions: 'grant' }, { target: 'stocked' }],
                SPARE_LOST: [{ guard: 'someoneAsks', target: 'empty', actions: 'refuseAll' }, { target: 'empty' }],
              },
            },
            stocked: {
              on: { REQUEST: { target: 'ordering', actions: 'grant' }, SPARE_LOST: 'ordering' },
            },
            empty: {
              on: { REQUEST: { target: 'ordering', actions: 'ask' } },
            },
          },
        },
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
  return JSON.stringify({ value, failures: context.failures, armed: context.armed, askers: context.askers });
};

/** Real transition (as graph.ts keys it) -> spec transitions. */
export const templateMapping: Record<string, string | string[]> = {
  'template.running | template.exited -> template.dead': 'template.running | EXITED -> template.dead',
  'template.running | STOP -> template.running.stopping': 'template.running | STOP -> template.running.stopping',
  'template.running.starting | template.started -> template.running.warming':
    'template.running.starting | STARTED -> template.running.warming',
  'template.running.starting | xstate.after.startTimeout.template.running.starting -> (self)':
    'template.running.starting | START_TIMEOUT [armed] -> (self)',
  'template.running.warming | template.ready [forkSafe] -> template.running.ready':
    'template.running.warming | READY_SAFE -> template.running.ready',
  'template.running.warming | template.ready -> template.running.retiring':
    'template.running.warming | READY_UNSAFE -> template.running.retiring',
  'template.running.warming | xstate.after.warmupTimeout.template.running.warming -> (self)':
    'template.running.warming | WARMUP_TIMEOUT [armed] -> (self)',
  'template.running.retiring | template.exited -> template.unsafe': 'template.running.retiring | EXITED -> template.unsafe',
  'template.running.retiring | STOP -> template.running.stopping': 'template.running.retiring | STOP -> template.running.stopping',
  'template.running.stopping | template.exited -> template.stopped': 'template.running.stopping | EXITED -> template.stopped',
  'template.running.stopping | STOP -> (self)': 'template.running.stopping | STOP -> (self)',
  'template.dead | STOP -> template.stopped': 'template.dead | STOP -> template.stopped',
  'template.dead | xstate.after.restartDelay.template.dead -> template.running': 'template.dead | RESTART_DELAY -> template.running',
  'template.unsafe | STOP -> template.stopped': 'template.unsafe | STOP -> template.stopped',
  'template | spare.request -> (self)': 'template | REQUEST -> (self)',
  'template.running.ready.ordering | spare.request -> (self)': 'template.running.ready.ordering | REQUEST [room] -> (self)',
  'template.running.ready.ordering | spare.cancel -> (self)': 'template.running.ready.ordering | CANCEL [someoneAsks] -> (self)',
  'template.running.ready.ordering | template.spareReady [someoneAsks] -> template.running.ready.ordering':
    'template.running.ready.ordering | SPARE_READY [someoneAsks] -> template.running.ready.ordering',
  'template.running.ready.ordering | template.spareReady -> template.running.ready.stocked':
    'template.running.ready.ordering | SPARE_READY -> template.running.ready.stocked',
  'template.running.ready.ordering | template.spareLost -> template.running.ready.empty': [
    'template.running.ready.ordering | SPARE_LOST [someoneAsks] -> template.running.ready.empty',
    'template.running.ready.ordering | SPARE_LOST -> template.running.ready.empty',
  ],
  'template.running.ready.ordering | xstate.after.forkTimeout.template.running.ready.ordering -> template.running.ready.empty': [
    'template.running.ready.ordering | FORK_TIMEOUT [someoneAsks] -> template.running.ready.empty',
    'template.running.ready.ordering | FORK_TIMEOUT -> template.running.ready.empty',
  ],
  'template.running.ready.stocked | spare.request -> template.running.ready.ordering':
    'template.running.ready.stocked | REQUEST -> template.running.ready.ordering',
  'template.running.ready.stocked | template.spareLost -> template.running.ready.ordering':
    'template.running.ready.stocked | SPARE_LOST -> template.running.ready.ordering',
  'template.running.ready.empty | spare.request -> template.running.ready.ordering':
    'template.running.ready.empty | REQUEST -> template.running.ready.ordering',
};
