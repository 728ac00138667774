import { assign, enqueueActions, fromCallback, sendParent, sendTo, setup, type AnyActorRef } from 'xstate';
import { backoffDelay, type Backoff } from './backoff.js';

/**
 * The fork template of a pool in spawn mode 'fork': one Python process that has run the warmup
 * code and forks sessions on request. starting → ready; if it dies, dead, then a restart after a
 * backoff (the pool starts sessions with 'exec' meanwhile). A template that started threads
 * cannot fork safely: it is retired for good and the pool stays on 'exec'.
 *
 * It also owns the spare: a child forked ahead of demand, so that a session costs a config message,
 * not a fork. Only a ready template has one, on order or in stock; a session's process asks for it
 * (`spare.request`) and is granted it or refused (then it starts a new interpreter instead). This
 * machine is the one place that decides whether a session can be forked.
 */

/** What the template process reports. A spare is ready once forked, connected and, in a sandbox, admitted to its cgroup. */
export type TemplateEvent =
  | { type: 'template.started' }
  | { type: 'template.ready'; pid: number; forkSafe: boolean; threads: number }
  | { type: 'template.exited'; exitCode: number | null; signal: string | null; reason: string }
  | { type: 'template.spareReady'; spareId: number }
  /** The spare died before any session got it, or could not be admitted to its sandbox. */
  | { type: 'template.spareLost'; spareId: number; reason: string };

export type TemplateCommand =
  | { type: 'template.kill' }
  | { type: 'template.orderSpare'; spareId: number }
  /** The spare will not be granted: the template process ends it. */
  | { type: 'template.letGoSpare'; spareId: number };

/** The template's name in its actor system: a session's process sends its requests there. */
export const TEMPLATE_SYSTEM_ID = 'forkTemplate';

/** A session's process asks for the spare; `spare.cancel` when it stops before an answer. */
export type SpareRequest = { type: 'spare.request'; requestId: string; replyTo: AnyActorRef } | { type: 'spare.cancel'; requestId: string };

/** The answer to a `spare.request`, sent to its `replyTo`. */
export type SpareAnswer = { type: 'spare.granted'; spareId: number } | { type: 'spare.refused'; reason: string };

/** What the template tells the pool. */
export type TemplateReport =
  | { type: 'template.up'; pid: number }
  | { type: 'template.down'; reason: string; retryInMs: number }
  | { type: 'template.unsafe'; threads: number };

export interface TemplateInput {
  backoff: Backoff;
  /** Spawn until the template says it started, then its warmup: one that takes longer is killed and restarted. */
  startTimeoutMs: number;
  warmupTimeoutMs: number;
  /** From ordering a spare to its being ready: a spare that takes longer is let go and its askers refused. */
  forkTimeoutMs: number;
}

interface Asker {
  requestId: string;
  replyTo: AnyActorRef;
}

export interface TemplateContext extends TemplateInput {
  failures: number;
  /** The spare on order or in stock; ids are never reused, across restarts included. */
  spareId: number;
  /** Requests waiting for the spare on order, oldest first. */
  askers: Asker[];
}

function restartDelay({ failures, backoff }: TemplateContext): number {
  return backoffDelay(failures, backoff);
}

type Events = TemplateEvent | SpareRequest | { type: 'STOP' };

const refuse = (reason: string): SpareAnswer => ({ type: 'spare.refused', reason });

export const templateMachine = setup({
  types: {
    input: {} as TemplateInput,
    context: {} as TemplateContext,
    events: {} as Events,
  },
  actors: {
    // Replaced by src/ with the real template process.
    templateProcess: fromCallback<TemplateCommand>(() => undefined),
  },
  delays: {
    restartDelay: ({ context }) => restartDelay(context),
    startTimeout: ({ context }) => context.startTimeoutMs,
    warmupTimeout: ({ context }) => context.warmupTimeoutMs,
    forkTimeout: ({ context }) => context.forkTimeoutMs,
  },
  guards: {
    forkSafe: ({ event }) => event.type === 'template.ready' && event.forkSafe,
    someoneAsks: ({ context }) => context.askers.length > 0,
  },
  actions: {
    kill: sendTo('templateProcess', { type: 'template.kill' } satisfies TemplateCommand),
    orderSpare: enqueueActions(({ context, enqueue }) => {
      const spareId = context.spareId + 1;
      enqueue.assign({ spareId });
      enqueue.sendTo('templateProcess', { type: 'template.orderSpare', spareId } satisfies TemplateCommand);
    }),
    letGoSpare: sendTo(
      'templateProcess',
      ({ context }) => ({ type: 'template.letGoSpare', spareId: context.spareId }) satisfies TemplateCommand,
    ),
    /** The spare goes to the oldest asker (stocked, or just ready): a request never waits while a spare is idle. */
    grantSpare: enqueueActions(({ context, event, enqueue }) => {
      const [oldest, ...rest] = context.askers;
      const asker = oldest ?? (event.type === 'spare.request' ? event : undefined);
      if (asker === undefined) return;
      enqueue.sendTo(asker.replyTo, { type: 'spare.granted', spareId: context.spareId } satisfies SpareAnswer);
      enqueue.assign({ askers: rest });
    }),
    addAsker: assign({
      askers: ({ context, event }) =>
        event.type === 'spare.request' ? [...context.askers, { requestId: event.requestId, replyTo: event.replyTo }] : context.askers,
    }),
    dropAsker: assign({
      askers: ({ context, event }) =>
        context.askers.filter((asker) => event.type !== 'spare.cancel' || asker.requestId !== event.requestId),
    }),
    refuseAskers: enqueueActions(({ context, enqueue }, params: { reason: string }) => {
      for (const asker of context.askers) enqueue.sendTo(asker.replyTo, refuse(params.reason));
      enqueue.assign({ askers: [] });
    }),
    refuseRequest: sendTo(
      ({ event }) => (event as Extract<SpareRequest, { type: 'spare.request' }>).replyTo,
      refuse('the fork template is not ready'),
    ),
  },
}).createMachine({
  id: 'template',
  context: ({ input }) => ({ ...input, failures: 0, spareId: 0, askers: [] }),
  initial: 'running',
  // Anywhere but `running.ready`, a session is refused at once and starts a new interpreter.
  on: { 'spare.request': { actions: 'refuseRequest' } },
  states: {
    running: {
      invoke: { id: 'templateProcess', src: 'templateProcess' },
      initial: 'starting',
      on: {
        'template.exited': {
          target: 'dead',
          actions: [
            assign({ failures: ({ context }) => context.failures + 1 }),
            sendParent(({ context, event }) => ({
              type: 'template.down' as const,
              reason: event.type === 'template.exited' ? event.reason : '',
              // Runs after the assign above: context.failures already counts this exit.
              retryInMs: restartDelay(context),
            })),
          ],
        },
        STOP: '.stopping',
      },
      states: {
        // A template that misses a deadline is killed: its exit counts as a failure like any other.
        starting: {
          after: { startTimeout: { actions: 'kill' } },
          on: { 'template.started': 'warming' },
        },
        warming: {
          after: { warmupTimeout: { actions: 'kill' } },
          on: {
            'template.ready': [
              {
                guard: 'forkSafe',
                target: 'ready',
                actions: [
                  assign({ failures: 0 }),
                  sendParent(({ event }) => ({ type: 'template.up' as const, pid: event.type === 'template.ready' ? event.pid : -1 })),
                ],
              },
              {
                target: 'retiring',
                actions: sendParent(({ event }) => ({
                  type: 'template.unsafe' as const,
                  threads: event.type === 'template.ready' ? event.threads : 0,
                })),
              },
            ],
          },
        },
        // The template process lets its spare go itself when it dies or is killed.
        ready: {
          initial: 'ordering',
          exit: { type: 'refuseAskers', params: { reason: 'the fork template is gone' } },
          states: {
            ordering: {
              entry: 'orderSpare',
              after: {
                forkTimeout: {
                  target: 'empty',
                  actions: ['letGoSpare', { type: 'refuseAskers', params: { reason: 'the fork template did not fork in time' } }],
                },
              },
              on: {
                'spare.request': { actions: 'addAsker' },
                'spare.cancel': { actions: 'dropAsker' },
                'template.spareReady': [
                  { guard: 'someoneAsks', target: 'ordering', reenter: true, actions: 'grantSpare' },
                  { target: 'stocked' },
                ],
                'template.spareLost': { target: 'empty', actions: { type: 'refuseAskers', params: { reason: 'the spare was lost' } } },
              },
            },
            stocked: {
              on: {
                'spare.request': { target: 'ordering', actions: 'grantSpare' },
                'template.spareLost': 'ordering',
              },
            },
            // Nothing on order (the last order failed): the next request orders again.
            empty: {
              on: { 'spare.request': { target: 'ordering', actions: 'addAsker' } },
            },
          },
        },
        // Not fork-safe: the process goes, and the template with it, for good.
        retiring: {
          entry: 'kill',
          on: { 'template.exited': '#template.unsafe', STOP: '#template.running.stopping' },
        },
        stopping: {
          entry: 'kill',
          on: { 'template.exited': '#template.stopped', STOP: {} },
        },
      },
    },
    dead: {
      after: { restartDelay: 'running' },
      on: { STOP: 'stopped' },
    },
    unsafe: {
      on: { STOP: 'stopped' },
    },
    stopped: { type: 'final' },
  },
});
