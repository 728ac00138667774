/**
 * Paths through the template machine: xstate/graph walks the specification (template.spec.ts) and
 * every path is replayed against the real machines/template.machine.ts, run as the child of a tiny
 * parent (it reports with sendParent), with a scripted `templateProcess` callback actor and a
 * SimulatedClock. After every step the real state, and what the step caused — process spawned or
 * stopped, `template.kill` sent to it, template.up / template.down (with retryInMs) /
 * template.unsafe reported to the parent — must be the spec's.
 */
import { createActor, fromCallback, setup, SimulatedClock, type AnyActorRef } from 'xstate';
import { createTestModel } from 'xstate/graph';
import { describe, expect, it } from 'vitest';
import {
  templateMachine,
  type SpareAnswer,
  type TemplateCommand,
  type TemplateEvent,
  type TemplateInput,
  type TemplateReport,
} from '../../machines/template.machine.js';
import { coveringPaths, stateNodes, stateValueOf } from './graph.js';
import {
  RETRY_MS,
  serializeTemplateSpec,
  TEMPLATE_BACKOFF,
  templateEventsIn,
  TEMPLATE_TIMINGS,
  templateMapping,
  templateSpec,
  type TemplateOut,
  type TemplateSpecEvent,
} from './template.spec.js';
import { expectConformance } from './conformance.js';
import { expectFullCoverage } from './coverage.js';

const PID = 777;

/** What each command to the template process shows as. */
const COMMAND_OUT: Record<TemplateCommand['type'], TemplateOut> = {
  'template.kill': 'kill',
  'template.orderSpare': 'order',
  'template.letGoSpare': 'letGo',
};
const THREADS = 3;

/** The real template machine, the child of a parent that records its reports, on a scripted process. */
function realTemplate() {
  const out: TemplateOut[] = [];
  const odd: unknown[] = [];
  let sendBack: ((event: TemplateEvent) => void) | null = null;
  let running = 0;
  const templateProcess = fromCallback<TemplateCommand>(({ sendBack: send, receive }) => {
    running++;
    out.push('spawn');
    sendBack = send;
    receive((command) => out.push(COMMAND_OUT[command.type]));
    return () => {
      running--;
      out.push('stop process');
      if (sendBack === send) sendBack = null;
    };
  });
  const template = templateMachine.provide({ actors: { templateProcess } });
  const input: TemplateInput = { backoff: TEMPLATE_BACKOFF, ...TEMPLATE_TIMINGS };
  const record = ({ event }: { event: TemplateReport }): void => {
    if (event.type === 'template.up') out.push(event.pid === PID ? 'up' : (`up with pid ${event.pid}` as never));
    else if (event.type === 'template.down')
      out.push(event.reason === 'bye' ? `down ${event.retryInMs}` : (`down, reason ${event.reason}` as never));
    else out.push(event.threads === THREADS ? 'unsafe' : (`unsafe with ${event.threads} threads` as never));
  };
  const parent = setup({ types: { events: {} as TemplateReport }, actors: { template } }).createMachine({
    invoke: { id: 'template', src: 'template', input },
    on: { 'template.up': { actions: record }, 'template.down': { actions: record }, 'template.unsafe': { actions: record } },
  });
  const clock = new SimulatedClock();
  const actor = createActor(parent, { clock });
  const errors: unknown[] = [];
  actor.subscribe({ error: (error) => errors.push(error) });
  actor.start();
  const ref = actor.getSnapshot().children.template as AnyActorRef;
  const report = (event: TemplateEvent): void => {
    if (sendBack === null) throw new Error(`no template process to report ${event.type}`);
    sendBack(event);
  };
  const context = (): { failures: number; spareId: number } =>
    (ref.getSnapshot() as { context: { failures: number; spareId: number } }).context;
  const failures = (): number => context().failures;
  /** Sessions' processes asking for a spare: each hears its answer once; the newest unanswered can cancel. */
  const askers: Array<{ requestId: string; answered: boolean }> = [];
  /** The spare last reported ready: the only one the machine may grant. */
  let lastReady = -1;
  const ask = (): void => {
    const asker = { requestId: `r${askers.length + 1}`, answered: false };
    askers.push(asker);
    const replyTo = createActor(
      fromCallback<SpareAnswer>(({ receive }) =>
        receive((answer) => {
          if (asker.answered) odd.push(`second answer to ${asker.requestId}`);
          asker.answered = true;
          if (answer.type === 'spare.granted' && answer.spareId !== lastReady)
            odd.push(`granted ${answer.spareId}, not the ready ${lastReady}`);
          out.push(answer.type === 'spare.granted' ? 'granted' : 'refused');
        }),
      ),
    ).start();
    ref.send({ type: 'spare.request', requestId: asker.requestId, replyTo });
  };
  const cancel = (): void => {
    const asker = askers.filter((a) => !a.answered).at(-1)!;
    asker.answered = true;
    ref.send({ type: 'spare.cancel', requestId: asker.requestId });
  };
  /** Lets a deadline run out one millisecond short, checking nothing happened, then the last millisecond. */
  const deadline = (ms: number, what: string): void => {
    const before = { state: flat(ref.getSnapshot().value), out: out.length };
    clock.increment(ms - 1);
    expect({ state: flat(ref.getSnapshot().value), out: out.length }, `nothing ${ms - 1} ms into a ${ms} ms ${what}`).toEqual(before);
    clock.increment(1);
  };
  const exec: Record<TemplateSpecEvent['type'], () => void> = {
    STARTED: () => report({ type: 'template.started' }),
    READY_SAFE: () => report({ type: 'template.ready', pid: PID, forkSafe: true, threads: 1 }),
    READY_UNSAFE: () => report({ type: 'template.ready', pid: PID, forkSafe: false, threads: THREADS }),
    EXITED: () => report({ type: 'template.exited', exitCode: null, signal: 'SIGKILL', reason: 'bye' }),
    START_TIMEOUT: () => deadline(TEMPLATE_TIMINGS.startTimeoutMs, 'start deadline'),
    WARMUP_TIMEOUT: () => deadline(TEMPLATE_TIMINGS.warmupTimeoutMs, 'warmup deadline'),
    // The delay the real machine owes after this many failures, from the table, not from the machine.
    RESTART_DELAY: () => deadline(RETRY_MS[Math.min(failures(), RETRY_MS.length - 1)]!, 'back-off'),
    STOP: () => ref.send({ type: 'STOP' }),
    REQUEST: ask,
    CANCEL: cancel,
    SPARE_READY: () => {
      lastReady = context().spareId;
      report({ type: 'template.spareReady', spareId: lastReady });
    },
    SPARE_LOST: () => report({ type: 'template.spareLost', spareId: context().spareId, reason: 'gone' }),
    FORK_TIMEOUT: () => deadline(TEMPLATE_TIMINGS.forkTimeoutMs, 'fork deadline'),
  };
  const waiting = (): number => (ref.getSnapshot() as { context: { askers: unknown[] } }).context.askers?.length ?? 0;
  return { ref, out, odd, errors, exec, running: () => running, askers: waiting };
}

const flat = (value: unknown): string =>
  typeof value === 'string'
    ? value
    : Object.entries(value as Record<string, unknown>)
        .map(([k, v]) => `${k}.${flat(v)}`)
        .join(',');

/** Replays one path on the spec and on the real machine, comparing after every step. */
function replay(events: TemplateSpecEvent[]): string[] {
  const spec = createActor(templateSpec).start();
  const real = realTemplate();
  const states = new Set<string>();
  const trail: string[] = [];
  const check = (before: { out: TemplateOut[] }, realBefore: number): void => {
    const after = spec.getSnapshot();
    const where = `after ${trail.join(' -> ') || '(start)'}`;
    for (const node of stateNodes(templateSpec))
      if (node !== templateSpec.root && after.matches(stateValueOf(node.id) as never)) states.add(node.id);
    const snapshot = real.ref.getSnapshot() as { value: unknown; status: string };
    expect(flat(snapshot.value), where).toBe(flat(after.value));
    expect(snapshot.status, where).toBe(after.status === 'done' ? 'done' : 'active');
    // What this step caused, in any order (an invoked actor starts after the transition's actions).
    const owed = after.context.out.slice(before.out.length);
    expect([...real.out.slice(realBefore)].sort(), where).toEqual([...owed].sort());
    expect(real.running(), `${where}: template processes running`).toBe(after.matches('running' as never) ? 1 : 0);
    expect(real.askers(), `${where}: requests waiting for a spare`).toBe(after.context.askers);
    expect(real.odd, where).toEqual([]);
    expect(real.errors, where).toEqual([]);
  };
  check({ out: [] }, 0);
  for (const event of events) {
    const before = spec.getSnapshot();
    const realBefore = real.out.length;
    spec.send(event);
    real.exec[event.type]();
    trail.push(event.type);
    check(before.context, realBefore);
  }
  return [...states];
}

describe('template machine: paths generated from its specification', () => {
  const model = createTestModel(templateSpec, { events: templateEventsIn, serializeState: serializeTemplateSpec } as never);
  const paths = coveringPaths(model as never, templateSpec, serializeTemplateSpec, 2, templateEventsIn as never) as Array<{
    events: TemplateSpecEvent[];
  }>;

  it(`replays ${paths.length} paths on the real machine`, () => {
    for (const path of paths) replay(path.events);
  });

  it('a template that keeps dying backs off: 1 s, 2 s, then 4 s for good, and 0 again once it was up', () => {
    const died = (n: number): TemplateSpecEvent[] =>
      Array.from({ length: n }, () => [{ type: 'EXITED' }, { type: 'RESTART_DELAY' }] as TemplateSpecEvent[]).flat();
    const states = replay([...died(5), { type: 'STARTED' }, { type: 'READY_SAFE' }, { type: 'EXITED' }]);
    expect(states).toContain('template.running.ready');
  });

  it('refuses the sessions waiting for a spare when the template dies or is stopped', () => {
    const waiting: TemplateSpecEvent[] = [{ type: 'STARTED' }, { type: 'READY_SAFE' }, { type: 'REQUEST' }, { type: 'REQUEST' }];
    expect(replay([...waiting, { type: 'EXITED' }])).toContain('template.dead');
    expect(replay([...waiting, { type: 'STOP' }])).toContain('template.running.stopping');
  });

  it('reaches every state and every transition of the specification', () => {
    expectFullCoverage('template', templateSpec, paths);
  });

  it('conforms structurally: every real state and transition has its spec counterpart, and back', () => {
    expectConformance({ name: 'template', real: templateMachine, spec: templateSpec, mapping: templateMapping });
  });
});
