import { createActor, fromPromise } from 'xstate';
import { describe, expect, it } from 'vitest';
import { flushMicrotasks } from '../model/harness.js';
import { kernelQueueMachine, type HandledOutcome, type KernelQueueEmitted, type QueuedRequest } from '../../machines/kernel.machine.js';

/** The queue with a `handle` actor the test finishes by hand: which request runs, and when it ends, is the test's. */
function queue() {
  const running: { request: QueuedRequest; finish: (outcome: HandledOutcome) => void }[] = [];
  const handle = fromPromise<HandledOutcome, QueuedRequest>(
    ({ input }) => new Promise((finish) => running.push({ request: input, finish })),
  );
  const actor = createActor(kernelQueueMachine.provide({ actors: { handle } }));
  const abandoned: KernelQueueEmitted[] = [];
  actor.on('abandoned', (event) => abandoned.push(event));
  actor.start();
  const request = (seq: number, execute = true) => actor.send({ type: 'REQUEST', seq, execute });
  /** Ends the running request and lets the machine react (the promise settles on a microtask). */
  const finish = async (outcome: HandledOutcome = { outcome: 'done' }) => {
    running.shift()!.finish(outcome);
    await flushMicrotasks();
  };
  return { actor, running, abandoned, request, finish, state: () => actor.getSnapshot().value };
}

describe('the kernel queue machine', () => {
  it('runs one request at a time, in arrival order', async () => {
    const q = queue();
    q.request(1);
    q.request(2, false);
    q.request(3);
    expect(q.running.map((r) => r.request.seq)).toEqual([1]);
    await q.finish();
    expect(q.running.map((r) => r.request.seq)).toEqual([2]);
    await q.finish();
    await q.finish();
    expect(q.state()).toBe('idle');
    expect(q.abandoned).toEqual([]);
    // A request after the queue emptied runs itself, not one already handled.
    q.request(4);
    expect(q.running.map((r) => r.request.seq)).toEqual([4]);
  });

  it('after a stop_on_error failure, aborts the executions queued then, not the other requests nor later ones', async () => {
    const q = queue();
    q.request(1);
    q.request(2);
    q.request(3, false);
    await q.finish({ outcome: 'stopOnError' });
    expect(q.running[0]!.request).toEqual({ seq: 2, execute: true, aborted: true });
    q.request(4);
    await q.finish();
    expect(q.running[0]!.request).toEqual({ seq: 3, execute: false, aborted: false });
    await q.finish();
    expect(q.running[0]!.request).toEqual({ seq: 4, execute: true, aborted: false });
  });

  it('abandons the running and queued requests when the session dies, and every later one', async () => {
    const q = queue();
    q.request(1);
    q.request(2);
    await q.finish({ outcome: 'died', reason: 'exited with code 3' });
    expect(q.state()).toBe('dead');
    expect(q.abandoned).toEqual([
      {
        type: 'abandoned',
        requests: [
          { seq: 1, execute: true, aborted: false },
          { seq: 2, execute: true, aborted: false },
        ],
        reason: 'exited with code 3',
        dead: true,
      },
    ]);
    q.request(3, false);
    expect(q.abandoned[1]).toEqual({
      type: 'abandoned',
      requests: [{ seq: 3, execute: false, aborted: false }],
      reason: 'exited with code 3',
      dead: true,
    });
  });

  it('DIE while a request runs abandons it at once; its late outcome changes nothing', async () => {
    const q = queue();
    q.request(1);
    const late = q.running[0]!;
    q.actor.send({ type: 'DIE', reason: 'culled' });
    expect(q.abandoned).toEqual([
      { type: 'abandoned', requests: [{ seq: 1, execute: true, aborted: false }], reason: 'culled', dead: true },
    ]);
    late.finish({ outcome: 'done' });
    await flushMicrotasks();
    expect(q.state()).toBe('dead');
  });

  it('a restart abandons what is pending (not dead), holds new requests until RESTARTED, then runs them', async () => {
    const q = queue();
    q.request(1);
    q.actor.send({ type: 'RESTART', reason: 'restarted' });
    expect(q.abandoned).toEqual([
      { type: 'abandoned', requests: [{ seq: 1, execute: true, aborted: false }], reason: 'restarted', dead: false },
    ]);
    q.request(2);
    expect(q.state()).toBe('restarting');
    q.actor.send({ type: 'RESTARTED' });
    expect(q.state()).toBe('working');
    expect(q.running.at(-1)!.request.seq).toBe(2);
  });

  it('a dead kernel can be restarted, without abandoning again what its death abandoned', () => {
    const q = queue();
    q.request(1);
    q.actor.send({ type: 'DIE', reason: 'gone' });
    expect(q.abandoned.map((a) => a.requests.map((r) => r.seq))).toEqual([[1]]);
    q.actor.send({ type: 'RESTART', reason: 'restarted' });
    q.actor.send({ type: 'RESTARTED' });
    expect(q.abandoned.map((a) => a.requests.map((r) => r.seq))).toEqual([[1]]);
    expect(q.state()).toBe('idle');
  });

  it('a request whose handling fails does not wedge the kernel: the next one runs, or the queue goes idle', async () => {
    const started: number[] = [];
    const failing = fromPromise<HandledOutcome, QueuedRequest>(({ input }) => {
      started.push(input.seq);
      return input.seq === 1 ? Promise.reject(new Error('a bug')) : new Promise(() => undefined);
    });
    const actor = createActor(kernelQueueMachine.provide({ actors: { handle: failing } })).start();
    actor.send({ type: 'REQUEST', seq: 1, execute: true });
    actor.send({ type: 'REQUEST', seq: 2, execute: true });
    await flushMicrotasks();
    expect(started).toEqual([1, 2]);
    expect(actor.getSnapshot().value).toBe('working');
    expect(actor.getSnapshot().context.queue).toEqual([{ seq: 2, execute: true, aborted: false }]);

    const alone = createActor(kernelQueueMachine.provide({ actors: { handle: failing } })).start();
    alone.send({ type: 'REQUEST', seq: 1, execute: true });
    await flushMicrotasks();
    expect(alone.getSnapshot().value).toBe('idle');
    expect(alone.getSnapshot().context.queue).toEqual([]);
  });
});
