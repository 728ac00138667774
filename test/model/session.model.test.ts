/**
 * Paths through the session machine: xstate/graph walks the specification (session.spec.ts) and
 * every path is replayed against the real machines/session.machine.ts, run as the child of a tiny
 * parent, with a scripted process actor and a simulated clock. After every step the real state,
 * death cause, ready report and pending execution must be the spec's.
 */
import { assign, createActor, fromCallback, setup, SimulatedClock, type AnyActorRef } from 'xstate';
import { createTestModel } from 'xstate/graph';
import { describe, expect, it } from 'vitest';
import { sessionMachine, type SessionEmitted } from '../../machines/session.machine.js';
import type { SessionInput } from '../../machines/session.machine.js';
import type { ProcessCommand, ProcessEvent, ProcessInbox, ProcessInput, WorkerResult } from '../../machines/session.types.js';
import { coveringPaths, serializeSnapshot } from './graph.js';
import { sessionMapping, sessionSpec, type SessionSpecEvent } from './session.spec.js';
import { expectConformance } from './conformance.js';
import { expectFullCoverage, type SpecRun } from './coverage.js';

const TIMINGS = { startTimeoutMs: 100, warmupTimeoutMs: 200, pingTimeoutMs: 300, interruptGraceMs: 400 };
const EXECUTION_TIMEOUT = 500;

const ALL_EVENTS: SessionSpecEvent[] = (
  [
    'READY',
    'READY_WARMED',
    'WARMUP_OK',
    'WARMUP_FAIL',
    'START_TIMEOUT',
    'WARMUP_TIMEOUT',
    'HEALTH_CHECK',
    'PONG',
    'PING_TIMEOUT',
    'EXECUTE',
    'EXECUTE_WHILE_BUSY',
    'EXECUTE_NOT_READY',
    'FILE',
    'FILE_WHILE_BUSY',
    'FILE_NOT_READY',
    'FILE_DONE',
    'OUTPUT',
    'INTERRUPT',
    'EXECUTION_DEADLINE',
    'RESULT',
    'INTERRUPT_GRACE',
    'CRASH',
    'PROTOCOL_ERROR',
    'STOP',
    'PROCESS_ACTOR_ERROR',
  ] as const
).map((type) => ({ type }));

function result(status: WorkerResult['status']): WorkerResult {
  return {
    status,
    value: null,
    data: null,
    error: status === 'ok' ? null : { name: 'E', message: '', traceback: '' },
    executionCount: 1,
    truncated: false,
    durationMs: 1,
  };
}

/** The real session machine, a child of a parent that counts its ready reports, on a scripted process. */
function realSession(warmup: boolean) {
  const commands: ProcessInbox[] = [];
  let sendBack: ((event: ProcessEvent) => void) | null = null;
  const process = fromCallback<ProcessInbox, ProcessInput>(({ sendBack: send, receive }) => {
    sendBack = send;
    receive((command) => {
      if ((command as { type: string }).type === 'test.throw') throw new Error('the process actor failed');
      commands.push(command);
    });
  });
  const session = sessionMachine.provide({ actors: { process } });
  const parent = setup({ actors: { session } }).createMachine({
    context: { reports: 0 },
    invoke: {
      id: 'session',
      src: 'session',
      input: { id: 's1', spawn: 'exec', warmupCode: warmup ? 'import x' : null, timings: TIMINGS } as SessionInput,
    },
    on: { 'session.ready': { actions: assign({ reports: ({ context }) => context.reports + 1 }) } },
  });
  const clock = new SimulatedClock();
  const actor = createActor(parent, { clock });
  const errors: unknown[] = [];
  actor.subscribe({ error: (error) => errors.push(error) });
  actor.start();
  const ref = actor.getSnapshot().children.session as unknown as AnyActorRef & {
    getSnapshot(): ReturnType<typeof createActor<typeof sessionMachine>>['getSnapshot'] extends () => infer S ? S : never;
  };
  const emitted: SessionEmitted[] = [];
  ref.on('*', (event: SessionEmitted) => emitted.push(event));
  let requestId = 0;
  const report = (event: ProcessEvent): void => sendBack!(event);
  const exec: Record<SessionSpecEvent['type'], () => void> = {
    READY: () => report({ type: 'process.ready', pid: 4242, warmed: false } as ProcessEvent),
    READY_WARMED: () => report({ type: 'process.ready', pid: 4242, warmed: true } as ProcessEvent),
    WARMUP_OK: () => report({ type: 'process.result', requestId: 0, result: result('ok') }),
    WARMUP_FAIL: () => report({ type: 'process.result', requestId: 0, result: result('error') }),
    START_TIMEOUT: () => clock.increment(TIMINGS.startTimeoutMs),
    WARMUP_TIMEOUT: () => clock.increment(TIMINGS.warmupTimeoutMs),
    HEALTH_CHECK: () => ref.send({ type: 'HEALTH_CHECK' }),
    PONG: () => report({ type: 'process.pong' }),
    PING_TIMEOUT: () => clock.increment(TIMINGS.pingTimeoutMs),
    EXECUTE: () => ref.send({ type: 'EXECUTE', requestId: ++requestId, code: 'x', timeoutMs: EXECUTION_TIMEOUT }),
    EXECUTE_WHILE_BUSY: () => ref.send({ type: 'EXECUTE', requestId: 1000 + requestId, code: 'y' }),
    EXECUTE_NOT_READY: () => ref.send({ type: 'EXECUTE', requestId: 2000 + requestId, code: 'z' }),
    FILE: () => ref.send({ type: 'FILE', requestId: ++requestId, request: { op: 'readFile', path: 'f', maxBytes: 10 } }),
    FILE_WHILE_BUSY: () => ref.send({ type: 'FILE', requestId: 1000 + requestId, request: { op: 'writeFile', path: 'f', data: '' } }),
    FILE_NOT_READY: () => ref.send({ type: 'FILE', requestId: 2000 + requestId, request: { op: 'writeFile', path: 'f', data: '' } }),
    FILE_DONE: () => report({ type: 'process.file', requestId, data: 'eA==', error: null }),
    OUTPUT: () => report({ type: 'process.output', requestId, stream: 'stdout', text: 'out' }),
    INTERRUPT: () => ref.send({ type: 'INTERRUPT' }),
    EXECUTION_DEADLINE: () => clock.increment(EXECUTION_TIMEOUT),
    RESULT: () =>
      report({
        type: 'process.result',
        requestId,
        result: result((ref.getSnapshot() as { matches(v: unknown): boolean }).matches({ busy: 'interrupting' }) ? 'interrupted' : 'ok'),
      }),
    INTERRUPT_GRACE: () => clock.increment(TIMINGS.interruptGraceMs),
    CRASH: () => report({ type: 'process.exited', exitCode: 1, signal: null }),
    PROTOCOL_ERROR: () => report({ type: 'process.protocolError', message: 'bad frame' }),
    STOP: () => ref.send({ type: 'STOP', reason: 'shutdown' }),
    PROCESS_ACTOR_ERROR: () => (ref.getSnapshot().children as Record<string, AnyActorRef>).process!.send({ type: 'test.throw' }),
  };
  return { actor, ref, commands, emitted, errors, exec, requestId: () => requestId };
}

const ENTRY_COMMANDS: Record<string, ProcessCommand['type']> = {
  warming: 'process.execute',
  'ready.checking': 'process.ping',
  'busy.interrupting': 'process.interrupt',
  'busy.killing': 'process.kill',
  'busy.transferring': 'process.file',
  stopping: 'process.kill',
};

const flat = (value: unknown): string =>
  typeof value === 'string'
    ? value
    : Object.entries(value as Record<string, unknown>)
        .map(([k, v]) => `${k}.${flat(v)}`)
        .join(',');

/** Replays one path on the spec and on the real machine, comparing after every step. */
function replay(warmup: boolean, events: SessionSpecEvent[]): void {
  const spec = createActor(sessionSpec, { input: { warmup } }).start();
  const real = realSession(warmup);
  const trail: string[] = [];
  for (const event of events) {
    const before = spec.getSnapshot();
    const emittedBefore = real.emitted.length;
    spec.send(event);
    const after = spec.getSnapshot();
    real.exec[event.type]();
    trail.push(event.type);
    const where = `after ${trail.join(' -> ')} (warmup: ${warmup})`;
    const snapshot = real.ref.getSnapshot();
    expect(flat(snapshot.value), where).toBe(flat(after.value));
    expect(snapshot.context.cause?.kind ?? null, where).toBe(after.context.cause);
    expect(real.actor.getSnapshot().context.reports, where).toBe(after.context.reported ? 1 : 0);
    expect(snapshot.status, where).toBe(after.status === 'done' ? 'done' : 'active');
    expect(real.errors, where).toEqual([]);
    const fresh = real.emitted.slice(emittedBefore);
    // The caller of an execution hears exactly once, when the spec says the execution ended.
    const answers = fresh.filter((e) => e.type === 'executed' || e.type === 'executionFailed' || e.type === 'fileDone');
    // A refused execution or file request (…_NOT_READY) also ends, at once.
    const refused = event.type === 'EXECUTE_NOT_READY' || event.type === 'FILE_NOT_READY';
    const ended = (before.context.executing && !after.context.executing) || refused;
    expect(answers.length, where).toBe(ended ? 1 : 0);
    if (event.type === 'EXECUTE_WHILE_BUSY' || event.type === 'FILE_WHILE_BUSY')
      expect(
        fresh.map((e) => e.type),
        where,
      ).toEqual(['rejected']);
    if (refused)
      expect(
        fresh.map((e) => e.type),
        where,
      ).toEqual(['executionFailed']);
    if (event.type === 'FILE_DONE')
      expect(
        fresh.map((e) => e.type),
        where,
      ).toEqual(['fileDone']);
    if (event.type === 'OUTPUT')
      expect(
        fresh.map((e) => e.type),
        where,
      ).toEqual(['output']);
    if (event.type === 'RESULT' && before.matches({ busy: 'interrupting' })) {
      // A deadline turns the interrupted result into a timeout; the caller's interrupt leaves it interrupted.
      const expected = before.context.interruptedBy === 'deadline' ? 'timeout' : 'interrupted';
      expect(answers[0]?.type === 'executed' && answers[0].result.status, where).toBe(expected);
    }
    if (event.type === 'CRASH' && before.matches({ busy: 'killing' })) {
      const expected = before.context.interruptedBy === 'deadline' ? 'timeout' : 'interrupted';
      expect(answers[0]?.type === 'executed' && answers[0].result.status, where).toBe(expected);
    }
    const entered = flat(after.value);
    if (entered !== flat(before.value) && ENTRY_COMMANDS[entered] !== undefined) {
      expect(real.commands.at(-1)?.type, where).toBe(ENTRY_COMMANDS[entered]);
    }
  }
}

describe('session machine: paths generated from its specification', () => {
  const runs: SpecRun[] = [];

  for (const warmup of [false, true]) {
    const model = createTestModel(sessionSpec, { input: { warmup }, events: ALL_EVENTS, serializeState: serializeSnapshot } as never);
    const paths = coveringPaths(model as never, sessionSpec, serializeSnapshot, 2, ALL_EVENTS as never) as Array<{
      events: SessionSpecEvent[];
      transitions: string[];
    }>;
    runs.push(...paths.map((path) => ({ input: { warmup }, events: path.events })));
    it(`replays ${paths.length} paths on the real machine (warmup: ${warmup})`, () => {
      for (const path of paths) replay(warmup, path.events);
    });
  }

  it('reaches every state and every transition of the specification', () => {
    expectFullCoverage('session', sessionSpec, runs);
  });

  it('conforms structurally: every real state and transition has its spec counterpart, and back', () => {
    expectConformance({ name: 'session', real: sessionMachine, spec: sessionSpec, mapping: sessionMapping });
  });
});
