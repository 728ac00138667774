/**
 * The session machine's own word to its callers, beyond the states the model walks
 * (test/model/session.model.test.ts): what each answer and each death cause carries, what the
 * process is told, and when deadlines fire. The machine runs as the child of a parent that records
 * what it reports, on a scripted process actor and a SimulatedClock.
 */
import { createActor, fromCallback, setup, SimulatedClock, type AnyActorRef } from 'xstate';
import { describe, expect, it } from 'vitest';
import { sessionMachine, type SessionEmitted, type SessionOutput, type SessionReport } from '../../machines/session.machine.js';
import type { DeathCause, ProcessEvent, ProcessInbox, ProcessInput, WorkerResult } from '../../machines/session.types.js';

const TIMINGS = { startTimeoutMs: 100, warmupTimeoutMs: 200, pingTimeoutMs: 300, interruptGraceMs: 400 };

function result(status: WorkerResult['status'], extra: Partial<WorkerResult> = {}): WorkerResult {
  return { status, value: null, data: null, error: null, executionCount: 7, truncated: false, durationMs: 12, ...extra };
}

function session(warmupCode: string | null = null, spawn: 'exec' | 'fork' = 'exec') {
  const commands: ProcessInbox[] = [];
  const inputs: ProcessInput[] = [];
  let sendBack: ((event: ProcessEvent) => void) | null = null;
  const process = fromCallback<ProcessInbox, ProcessInput>(({ sendBack: send, receive, input }) => {
    sendBack = send;
    inputs.push(input);
    receive((command) => {
      if ((command as { type: string }).type === 'test.throw') throw new Error('the process actor failed');
      commands.push(command);
    });
  });
  const reports: SessionReport[] = [];
  const outputs: SessionOutput[] = [];
  const parent = setup({ actors: { session: sessionMachine.provide({ actors: { process } }) } }).createMachine({
    invoke: {
      id: 'session',
      src: 'session',
      input: { id: 's9', spawn, warmupCode, timings: TIMINGS },
      onDone: { actions: ({ event }) => outputs.push(event.output) },
    },
    on: {
      'session.ready': { actions: ({ event }) => reports.push(event as SessionReport) },
      'session.stopping': { actions: ({ event }) => reports.push(event as SessionReport) },
    },
  });
  const clock = new SimulatedClock();
  const actor = createActor(parent, { clock }).start();
  const ref = actor.getSnapshot().children.session as AnyActorRef;
  const emitted: SessionEmitted[] = [];
  ref.on('*', (event: SessionEmitted) => emitted.push(event));
  const report = (event: ProcessEvent): void => sendBack!(event);
  const state = (): unknown => ref.getSnapshot().value;
  return { ref, clock, commands, inputs, reports, outputs, emitted, report, state, command: () => commands.at(-1) };
}

type Session = ReturnType<typeof session>;

function ready(s: Session, warmed = false): void {
  s.report({ type: 'process.ready', pid: 4242, warmed });
}

function exited(s: Session, extra: Partial<Extract<ProcessEvent, { type: 'process.exited' }>> = {}): void {
  s.report({ type: 'process.exited', exitCode: null, signal: 'SIGKILL', ...extra });
}

/** The session's death cause, once it ended (its output to the pool). */
function cause(s: Session): DeathCause | undefined {
  return s.outputs[0]?.cause;
}

describe('the session machine, as its callers see it', () => {
  it('starts its process with its id and spawn mode, and tells the pool its pid once ready', () => {
    const s = session(null, 'fork');
    expect(s.inputs).toEqual([{ sessionId: 's9', spawn: 'fork' }]);
    ready(s);
    expect(s.reports).toEqual([{ type: 'session.ready', sessionId: 's9', pid: 4242 }]);
  });

  it('runs the warmup code silently as request 0 before it is ready; a process already warmed skips it', () => {
    const s = session('import numpy');
    ready(s);
    expect(s.command()).toEqual({ type: 'process.execute', requestId: 0, code: 'import numpy', silent: true });
    expect(s.reports).toEqual([]);
    s.report({ type: 'process.result', requestId: 0, result: result('ok') });
    expect(s.reports).toEqual([{ type: 'session.ready', sessionId: 's9', pid: 4242 }]);

    const warmed = session('import numpy');
    ready(warmed, true);
    expect(warmed.commands).toEqual([]);
    expect(warmed.reports).toEqual([{ type: 'session.ready', sessionId: 's9', pid: 4242 }]);
  });

  it("a failed warmup ends the session with the worker's error, or one naming the status when there is none", () => {
    const error = { name: 'ImportError', message: 'no numpy', traceback: 'tb' };
    const s = session('import numpy');
    ready(s);
    s.report({ type: 'process.result', requestId: 0, result: result('error', { error }) });
    expect(s.command()).toEqual({ type: 'process.kill' });
    exited(s);
    expect(cause(s)).toEqual({ kind: 'warmupFailed', error });

    const t = session('import numpy');
    ready(t);
    t.report({ type: 'process.result', requestId: 0, result: result('interrupted') });
    exited(t);
    expect(cause(t)).toEqual({
      kind: 'warmupFailed',
      error: { name: 'Error', message: 'warmup ended with status interrupted', traceback: '' },
    });
  });

  it('its deadlines fire exactly on time, and the cause names the deadline that ran out', () => {
    const start = session();
    start.clock.increment(TIMINGS.startTimeoutMs - 1);
    expect(start.commands).toEqual([]);
    start.clock.increment(1);
    expect(start.command()).toEqual({ type: 'process.kill' });
    expect(start.reports).toEqual([{ type: 'session.stopping', sessionId: 's9' }]);
    exited(start, { exitCode: 0, signal: null });
    expect(start.outputs).toEqual([{ cause: { kind: 'startTimeout', timeoutMs: 100 }, exit: { exitCode: 0, signal: null } }]);

    const warmup = session('w');
    ready(warmup);
    warmup.clock.increment(TIMINGS.warmupTimeoutMs - 1);
    expect(warmup.state()).toBe('warming');
    warmup.clock.increment(1);
    exited(warmup);
    expect(cause(warmup)).toEqual({ kind: 'warmupTimeout', timeoutMs: 200 });

    const ping = session();
    ready(ping);
    ping.ref.send({ type: 'HEALTH_CHECK' });
    expect(ping.command()).toEqual({ type: 'process.ping' });
    ping.clock.increment(TIMINGS.pingTimeoutMs - 1);
    expect(ping.state()).toEqual({ ready: 'checking' });
    ping.clock.increment(1);
    exited(ping);
    expect(cause(ping)).toEqual({ kind: 'healthCheckFailed', timeoutMs: 300 });
  });

  it('passes code and silent to the process, and sets no deadline for an execution without one', () => {
    const s = session();
    ready(s);
    s.ref.send({ type: 'EXECUTE', requestId: 1, code: 'x = 1' });
    expect(s.command()).toEqual({ type: 'process.execute', requestId: 1, code: 'x = 1', silent: false });
    s.clock.increment(1_000_000);
    expect(s.command()).toEqual({ type: 'process.execute', requestId: 1, code: 'x = 1', silent: false });
    s.report({ type: 'process.result', requestId: 1, result: result('ok') });
    s.ref.send({ type: 'EXECUTE', requestId: 2, code: 'y', silent: true, timeoutMs: 50 });
    expect(s.command()).toEqual({ type: 'process.execute', requestId: 2, code: 'y', silent: true });
  });

  it('an execution that ends in time cancels its deadline', () => {
    const s = session();
    ready(s);
    s.ref.send({ type: 'EXECUTE', requestId: 1, code: 'x', timeoutMs: 500 });
    s.report({ type: 'process.result', requestId: 1, result: result('ok') });
    s.ref.send({ type: 'EXECUTE', requestId: 2, code: 'y' });
    s.clock.increment(500);
    expect(s.commands.map((c) => c.type)).toEqual(['process.execute', 'process.execute']);
    expect(s.state()).toEqual({ busy: 'running' });
  });

  it("an execution past its deadline is interrupted, and its result becomes a timeout that keeps the worker's count and duration", () => {
    const s = session();
    ready(s);
    s.ref.send({ type: 'EXECUTE', requestId: 1, code: 'loop', timeoutMs: 500 });
    s.clock.increment(499);
    expect(s.command()?.type).toBe('process.execute');
    s.clock.increment(1);
    expect(s.command()).toEqual({ type: 'process.interrupt' });
    s.report({
      type: 'process.result',
      requestId: 1,
      result: result('interrupted', { error: { name: 'KeyboardInterrupt', message: '', traceback: 'tb' } }),
    });
    expect(s.emitted).toEqual([
      {
        type: 'executed',
        requestId: 1,
        result: result('timeout', {
          error: { name: 'TimeoutError', message: 'execution exceeded 500 ms and was interrupted', traceback: '' },
        }),
      },
    ]);
    expect(s.state()).toEqual({ ready: 'idle' });
  });

  it('a result that is not interrupted is passed on as it is, even after the deadline', () => {
    const s = session();
    ready(s);
    s.ref.send({ type: 'EXECUTE', requestId: 1, code: 'x', timeoutMs: 500 });
    s.clock.increment(500);
    s.report({ type: 'process.result', requestId: 1, result: result('ok', { value: '3' }) });
    expect(s.emitted).toEqual([{ type: 'executed', requestId: 1, result: result('ok', { value: '3' }) }]);
  });

  it("a caller's interrupt leaves an interrupted result as it is", () => {
    const s = session();
    ready(s);
    s.ref.send({ type: 'EXECUTE', requestId: 1, code: 'x', timeoutMs: 500 });
    s.ref.send({ type: 'INTERRUPT' });
    expect(s.command()).toEqual({ type: 'process.interrupt' });
    s.report({ type: 'process.result', requestId: 1, result: result('interrupted') });
    expect(s.emitted).toEqual([{ type: 'executed', requestId: 1, result: result('interrupted') }]);
  });

  it("code that ignores its deadline's interrupt is killed after the grace period: a timeout result, then death", () => {
    const s = session();
    ready(s);
    s.ref.send({ type: 'EXECUTE', requestId: 1, code: 'ok', timeoutMs: 50 });
    s.report({ type: 'process.result', requestId: 1, result: result('ok') });
    s.ref.send({ type: 'EXECUTE', requestId: 2, code: 'loop', timeoutMs: 500 });
    s.clock.increment(500);
    s.clock.increment(TIMINGS.interruptGraceMs - 1);
    expect(s.command()).toEqual({ type: 'process.interrupt' });
    s.clock.increment(1);
    expect(s.command()).toEqual({ type: 'process.kill' });
    exited(s);
    const message = 'execution exceeded 500 ms and did not stop when interrupted; its process was killed';
    expect(s.emitted.at(-1)).toEqual({
      type: 'executed',
      requestId: 2,
      // One execution finished before: this is the second.
      result: {
        status: 'timeout',
        value: null,
        data: null,
        error: { name: 'TimeoutError', message, traceback: '' },
        executionCount: 2,
        truncated: false,
        durationMs: 500,
      },
    });
    expect(s.outputs).toEqual([{ cause: { kind: 'executionTimeout', timeoutMs: 500 }, exit: { exitCode: null, signal: 'SIGKILL' } }]);
  });

  it("code that ignores the caller's interrupt is killed after the grace period: an interrupted result, then death", () => {
    const s = session();
    ready(s);
    s.ref.send({ type: 'EXECUTE', requestId: 1, code: 'loop' });
    s.ref.send({ type: 'INTERRUPT' });
    s.clock.increment(TIMINGS.interruptGraceMs);
    exited(s);
    const message = 'execution did not stop within 400 ms of its interrupt; its process was killed';
    expect(s.emitted.at(-1)).toEqual({
      type: 'executed',
      requestId: 1,
      result: {
        status: 'interrupted',
        value: null,
        data: null,
        error: { name: 'KeyboardInterrupt', message, traceback: '' },
        executionCount: 1,
        truncated: false,
        durationMs: 0,
      },
    });
    expect(cause(s)).toEqual({ kind: 'interruptIgnored', graceMs: 400 });
  });

  it('forwards output and displays of the current request only', () => {
    const s = session();
    ready(s);
    s.report({ type: 'process.output', requestId: null, stream: 'stdout', text: 'before' });
    s.ref.send({ type: 'EXECUTE', requestId: 1, code: 'x' });
    const display = { type: 'display' as const, data: { 'text/plain': '1' }, metadata: {} };
    s.report({ type: 'process.output', requestId: 1, stream: 'stderr', text: 'err' });
    s.report({ type: 'process.output', requestId: 0, stream: 'stdout', text: 'stale' });
    s.report({ type: 'process.display', requestId: 1, output: display });
    s.report({ type: 'process.display', requestId: null, output: display });
    expect(s.emitted).toEqual([
      { type: 'output', requestId: 1, stream: 'stderr', text: 'err' },
      { type: 'display', requestId: 1, output: display },
    ]);
  });

  it('ignores a result or a file answer for another request', () => {
    const s = session();
    ready(s);
    s.ref.send({ type: 'EXECUTE', requestId: 1, code: 'x' });
    s.report({ type: 'process.result', requestId: 0, result: result('ok') });
    expect(s.state()).toEqual({ busy: 'running' });
    s.report({ type: 'process.result', requestId: 1, result: result('ok') });
    s.ref.send({ type: 'FILE', requestId: 2, request: { op: 'readFile', path: 'f', maxBytes: 10 } });
    expect(s.command()).toEqual({ type: 'process.file', requestId: 2, request: { op: 'readFile', path: 'f', maxBytes: 10 } });
    s.report({ type: 'process.file', requestId: 1, data: 'eA==', error: null });
    expect(s.state()).toEqual({ busy: 'transferring' });
    const error = { code: 'not_found' as const, message: 'no f' };
    s.report({ type: 'process.file', requestId: 2, data: null, error });
    expect(s.emitted.at(-1)).toEqual({ type: 'fileDone', requestId: 2, data: null, error });
    expect(s.state()).toEqual({ ready: 'idle' });
    // Done means done: a death now fails no request.
    const answered = s.emitted.length;
    exited(s);
    expect(s.emitted.length).toBe(answered);
  });

  it('rejects work while busy, naming the request it refuses', () => {
    const s = session();
    ready(s);
    s.ref.send({ type: 'EXECUTE', requestId: 1, code: 'x' });
    s.ref.send({ type: 'EXECUTE', requestId: 5, code: 'y' });
    s.ref.send({ type: 'FILE', requestId: 6, request: { op: 'writeFile', path: 'f', data: '' } });
    expect(s.emitted).toEqual([
      { type: 'rejected', requestId: 5, reason: 'busy' },
      { type: 'rejected', requestId: 6, reason: 'busy' },
    ]);
  });

  it('refuses work when not ready: before it is, and once it is going (with the cause it goes for)', () => {
    const s = session();
    s.ref.send({ type: 'EXECUTE', requestId: 1, code: 'x' });
    expect(s.emitted).toEqual([
      { type: 'executionFailed', requestId: 1, cause: { kind: 'protocolError', message: 'the session is not ready for work' }, exit: null },
    ]);
    ready(s);
    s.ref.send({ type: 'STOP', reason: 'recycled' });
    s.ref.send({ type: 'FILE', requestId: 2, request: { op: 'writeFile', path: 'f', data: '' } });
    expect(s.emitted.at(-1)).toEqual({ type: 'executionFailed', requestId: 2, cause: { kind: 'stopped', reason: 'recycled' }, exit: null });
  });

  it('a process that dies mid-execution fails it with the death cause and the exit', () => {
    const s = session();
    ready(s);
    s.ref.send({ type: 'EXECUTE', requestId: 1, code: 'x' });
    exited(s, { exitCode: 3, signal: null, diagnostics: 'Fatal Python error' });
    const death = { kind: 'exited', exitCode: 3, signal: null, diagnostics: 'Fatal Python error' };
    expect(s.emitted).toEqual([{ type: 'executionFailed', requestId: 1, cause: death, exit: { exitCode: 3, signal: null } }]);
    expect(s.outputs).toEqual([{ cause: death, exit: { exitCode: 3, signal: null } }]);
  });

  it('names why a process ended: it never started, a sandbox limit, a stop, a bad frame, a failed process actor', () => {
    const spawn = session();
    exited(spawn, { exitCode: null, signal: null, spawnError: 'ENOENT python3' });
    expect(cause(spawn)).toEqual({ kind: 'spawnFailed', message: 'ENOENT python3' });

    const oom = session();
    ready(oom);
    exited(oom, { overLimit: { kind: 'oom' } });
    expect(cause(oom)).toEqual({ kind: 'oom' });

    const stop = session();
    ready(stop);
    stop.ref.send({ type: 'STOP', reason: 'retired' });
    expect(stop.command()).toEqual({ type: 'process.kill' });
    // A process that dies for its own reason while being stopped still died because it was stopped.
    exited(stop, { exitCode: 1, signal: null });
    expect(stop.outputs).toEqual([{ cause: { kind: 'stopped', reason: 'retired' }, exit: { exitCode: 1, signal: null } }]);

    const frame = session();
    ready(frame);
    frame.report({ type: 'process.protocolError', message: 'bad frame' });
    expect(frame.reports.at(-1)).toEqual({ type: 'session.stopping', sessionId: 's9' });
    exited(frame);
    expect(cause(frame)).toEqual({ kind: 'protocolError', message: 'bad frame' });

    const actor = session();
    (actor.ref.getSnapshot().children as Record<string, AnyActorRef>).process!.send({ type: 'test.throw' });
    expect(cause(actor)).toEqual({ kind: 'spawnFailed', message: 'Error: the process actor failed' });
  });
});
