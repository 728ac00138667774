import { assign, emit, fromPromise, setup } from 'xstate';

/**
 * The request queue of one Jupyter kernel: idle ⇄ working, restarting, and dead.
 *
 * Shell requests of every socket of the kernel join one FIFO queue and are handled one at a time,
 * as a kernel does; a request is never refused for being second. The work of a request (running
 * code in the kernel's session) is the `handle` actor, supplied by src/ through `.provide()`; the
 * machine only decides what runs next. When the session goes (it died, was culled or deleted),
 * every request not yet answered is handed back at once as `abandoned`, so no client waits for a
 * reply that cannot come. A restart does the same, then holds new requests until the fresh
 * session is there (RESTARTED).
 */

export interface QueuedRequest {
  /** The kernel's serial number of the request; src/ keeps the message under it. */
  seq: number;
  /** An execute_request: aborted, not run, once an earlier one failed with stop_on_error. */
  execute: boolean;
  aborted: boolean;
}

/** How handling a request ended. */
export type HandledOutcome =
  | { outcome: 'done' }
  /** An execution failed and asked for the queued executions to be aborted (stop_on_error). */
  | { outcome: 'stopOnError' }
  /** The session died under the request: the kernel is dead. */
  | { outcome: 'died'; reason: string };

export type KernelQueueEvent =
  | { type: 'REQUEST'; seq: number; execute: boolean }
  /** The kernel's session is gone: the kernel is dead. */
  | { type: 'DIE'; reason: string }
  /** A restart begins: unanswered requests are abandoned; new ones wait for the fresh session. */
  | { type: 'RESTART'; reason: string }
  /** The fresh session is there: the queue runs again. */
  | { type: 'RESTARTED' };

/** dead: the kernel is dead (not restarting), so the client should be told so after the replies. */
export type KernelQueueEmitted = { type: 'abandoned'; requests: QueuedRequest[]; reason: string; dead: boolean };

export interface KernelQueueContext {
  queue: QueuedRequest[];
  deathReason: string | null;
}

export const kernelQueueMachine = setup({
  types: {
    context: {} as KernelQueueContext,
    events: {} as KernelQueueEvent,
    emitted: {} as KernelQueueEmitted,
  },
  actors: {
    // Replaced by src/ with the real handling of a Jupyter request.
    handle: fromPromise<HandledOutcome, QueuedRequest>(async () => ({ outcome: 'done' })),
  },
  guards: {
    died: ({ event }) => 'output' in event && (event.output as HandledOutcome).outcome === 'died',
    morePending: ({ context }) => context.queue.length > 1,
    anyPending: ({ context }) => context.queue.length > 0,
  },
  actions: {
    enqueue: assign(({ context, event }) => {
      if (event.type !== 'REQUEST') return {};
      return { queue: [...context.queue, { seq: event.seq, execute: event.execute, aborted: false }] };
    }),
    /** Drops the request just handled; after a stop_on_error failure the queued executions are aborted. */
    dequeue: assign(({ context, event }) => {
      const stop = 'output' in event && (event.output as HandledOutcome).outcome === 'stopOnError';
      const rest = context.queue.slice(1);
      return { queue: stop ? rest.map((r) => (r.execute ? { ...r, aborted: true } : r)) : rest };
    }),
    recordDeath: assign(({ event }) => {
      if (event.type === 'DIE') return { deathReason: event.reason };
      const output = 'output' in event ? (event.output as HandledOutcome) : null;
      return { deathReason: output?.outcome === 'died' ? output.reason : 'the kernel died' };
    }),
    abandonAll: emit(({ context, event }) => ({
      type: 'abandoned' as const,
      requests: context.queue,
      reason: event.type === 'RESTART' ? event.reason : (context.deathReason ?? 'the kernel died'),
      dead: event.type !== 'RESTART',
    })),
    clearQueue: assign({ queue: [] }),
    /** A request that reaches a dead kernel is answered at once. */
    abandonNew: emit(({ context, event }) => ({
      type: 'abandoned' as const,
      requests: event.type === 'REQUEST' ? [{ seq: event.seq, execute: event.execute, aborted: false }] : [],
      reason: context.deathReason ?? 'the kernel is dead',
      dead: true,
    })),
  },
}).createMachine({
  id: 'kernelQueue',
  context: { queue: [], deathReason: null },
  initial: 'idle',
  on: {
    DIE: { target: '.dead', actions: 'recordDeath' },
    RESTART: { target: '.restarting', actions: ['abandonAll', 'clearQueue'] },
  },
  states: {
    idle: {
      on: { REQUEST: { target: 'working', actions: 'enqueue' } },
    },
    restarting: {
      on: {
        REQUEST: { actions: 'enqueue' },
        RESTARTED: [{ guard: 'anyPending', target: 'working' }, { target: 'idle' }],
      },
    },
    working: {
      invoke: {
        id: 'handle',
        src: 'handle',
        input: ({ context }) => context.queue[0]!,
        onDone: [
          { guard: 'died', target: 'dead', actions: 'recordDeath' },
          { guard: 'morePending', target: 'working', reenter: true, actions: 'dequeue' },
          { target: 'idle', actions: 'dequeue' },
        ],
        // A bug in handling one request must not wedge the kernel: the next one runs.
        onError: [
          { guard: 'morePending', target: 'working', reenter: true, actions: 'dequeue' },
          { target: 'idle', actions: 'dequeue' },
        ],
      },
      on: { REQUEST: { actions: 'enqueue' } },
    },
    dead: {
      entry: ['abandonAll', 'clearQueue'],
      on: {
        REQUEST: { actions: 'abandonNew' },
        DIE: {},
        // A dead kernel can be restarted: a fresh session behind the same id.
        RESTART: { target: 'restarting', actions: assign({ deathReason: null }) },
      },
    },
  },
});
