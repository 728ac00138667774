import { assign, fromCallback, sendParent, sendTo, setup } from 'xstate';
import { backoffDelay, type Backoff } from './backoff.js';

/**
 * The fork template of a pool in spawn mode 'fork': one Python process that has run the warmup
 * code and forks sessions on request. starting → ready; if it dies, dead, then a restart after a
 * backoff (the pool starts sessions with 'exec' meanwhile). A template that started threads
 * cannot fork safely: it is retired for good and the pool stays on 'exec'.
 */

export type TemplateEvent =
  | { type: 'template.started' }
  | { type: 'template.ready'; pid: number; forkSafe: boolean; threads: number }
  | { type: 'template.exited'; exitCode: number | null; signal: string | null; reason: string };

export type TemplateCommand = { type: 'template.kill' };

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
}

export interface TemplateContext extends TemplateInput {
  failures: number;
}

function restartDelay({ failures, backoff }: TemplateContext): number {
  return backoffDelay(failures, backoff);
}

export const templateMachine = setup({
  types: {
    input: {} as TemplateInput,
    context: {} as TemplateContext,
    events: {} as TemplateEvent | { type: 'STOP' },
  },
  actors: {
    // Replaced by src/ with the real template process.
    templateProcess: fromCallback<TemplateCommand>(() => undefined),
  },
  delays: {
    restartDelay: ({ context }) => restartDelay(context),
    startTimeout: ({ context }) => context.startTimeoutMs,
    warmupTimeout: ({ context }) => context.warmupTimeoutMs,
  },
  guards: {
    forkSafe: ({ event }) => event.type === 'template.ready' && event.forkSafe,
  },
  actions: {
    kill: sendTo('templateProcess', { type: 'template.kill' } satisfies TemplateCommand),
  },
}).createMachine({
  id: 'template',
  context: ({ input }) => ({ ...input, failures: 0 }),
  initial: 'running',
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
                actions: sendParent(({ event }) => ({ type: 'template.unsafe' as const, threads: event.type === 'template.ready' ? event.threads : 0 })),
              },
            ],
          },
        },
        ready: {},
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
