/**
 * Paths through the pool machine: xstate/graph walks the specification (pool.spec.ts) and every
 * path is replayed against a real SessionPool on fake workers whose process events are held until
 * the path releases them, with a clock whose timers fire when the path says. After every step the
 * pool's metrics, who holds which session and how each acquire ended must be the spec's.
 * Paths are generated and replayed twice: spawn 'exec', and spawn 'fork' with a scripted template
 * process (FakeTemplate); in fork mode the template's status, whether its process runs, how each
 * session was spawned and when the pool closes must also be the spec's.
 */
import pino from 'pino';
import { createActor } from 'xstate';
import { createTestModel } from 'xstate/graph';
import { describe, expect, it } from 'vitest';
import { poolMachine } from '../../machines/pool.machine.js';
import { SessionPool } from '../../src/index.js';
import { ModelClock } from './clock.js';
import { FakeTemplate, FakeWorld, HeldDeliveries } from './fake-worker.js';
import { coveringPaths, type TransitionInfo } from './graph.js';
import { flushMicrotasks, PoolHarness } from './harness.js';
import {
  MAX_SESSIONS,
  MIN_IDLE,
  poolMapping,
  poolNotModelled,
  poolSpec,
  poolSpecEvents,
  poolSpecOnly,
  serializePoolSpec,
  type PoolSpecEvent,
} from './pool.spec.js';
import { expectConformance } from './conformance.js';
import { expectFullCoverage, type SpecRun } from './coverage.js';

const WAITER_MS = 1001;
const AGE_MS = 2002;
const IDLE_MS = 3003;
const HEALTH_MS = 4004;
const NEVER_MS = 1_000_000_000;
// The fork deadline is half the start timeout (machines/pool.machine.ts).
const KNOWN = new Set([WAITER_MS, AGE_MS, IDLE_MS, HEALTH_MS, NEVER_MS, NEVER_MS / 2]);

type SpecSnapshot = ReturnType<ReturnType<typeof createActor<typeof poolSpec>>['getSnapshot']>;

function realPool(fork: boolean) {
  const held = new HeldDeliveries();
  const world = new FakeWorld(held.deliver);
  const clock = new ModelClock();
  const template = new FakeTemplate();
  world.spares = template;
  const pool = new SessionPool(
    {
      minIdle: MIN_IDLE,
      maxSessions: MAX_SESSIONS,
      healthCheckIntervalMs: HEALTH_MS,
      maxSessionAgeMs: AGE_MS,
      idleTimeoutMs: IDLE_MS,
      startTimeoutMs: NEVER_MS,
      warmupTimeoutMs: NEVER_MS,
      pingTimeoutMs: NEVER_MS,
      interruptGraceMs: NEVER_MS,
      logger: pino({ level: 'silent' }),
      ...(fork ? { spawn: 'fork' as const } : {}),
    },
    { processActor: world.processActor, ...(fork ? { templateProcessActor: () => template.logic } : {}), clock },
  );
  const h = new PoolHarness(pool, MAX_SESSIONS);
  void pool.start().catch(() => undefined);
  /** The template's pending restart timer (set when it died), told apart from the spawn retry of the same backoff. */
  const restart = { id: null as number | null };
  return { held, world, clock, pool, h, template, restart };
}

type Real = ReturnType<typeof realPool>;

function execute(r: Real, before: SpecSnapshot, event: PoolSpecEvent): void {
  const c = before.context;
  const id = 'slot' in event ? c.sessions[event.slot]!.id : '';
  const lease = (): NonNullable<ReturnType<Real['h']['liveLeases']>[number]> => {
    const found = r.h.liveLeases().find((l) => l.session.id === id);
    if (found === undefined) throw new Error(`no lease of ${id}`);
    return found;
  };
  const exit = (): void => {
    r.held.release((label) => label === `${id} exit`);
  };
  switch (event.type) {
    case 'ACQUIRE':
      r.h.acquire({ timeoutMs: WAITER_MS, abortable: true });
      return;
    case 'CANCEL_WAITER':
      r.h.waiters.find((w) => w.id === c.waiters[event.waiter])!.abort!.abort();
      return;
    case 'WAITER_EXPIRED':
      expect(r.clock.fire(WAITER_MS), 'a waiter timer is pending').toBe(true);
      return;
    case 'RELEASE':
      return r.h.release(lease());
    case 'DESTROY':
      return r.h.release(lease(), true);
    case 'SESSION_READY':
      expect(r.held.release((label) => label === `${id} ready`)).toBe(1);
      return;
    case 'START_FAILED':
    case 'CRASH_IDLE':
    case 'CRASH_LEASED':
      r.world.processes.get(id)!.crash();
      return exit();
    case 'SESSION_ERROR': {
      // A session actor that throws (standing in for a bug in PyREPL3): its process reports an
      // actor error whose description throws, so the session's own transition throws.
      if (before.matches('open')) lease();
      const error = {
        toString: (): string => {
          throw new Error('a session actor bug');
        },
      };
      const process = r.world.processes.get(id)!;
      process.inject({ type: 'xstate.error.actor.process', error });
      // An actor that failed does not stop its children: its process's held events have nowhere to go.
      process.stop();
      return;
    }
    case 'STOPPED_EXIT':
      return exit();
    case 'SELF_STOPPING':
      // A frame the session cannot read: it stops itself and tells the pool at once.
      r.world.processes.get(id)!.inject({ type: 'process.protocolError', message: 'bad frame' });
      return;
    case 'HEALTH_TICK':
      expect(r.clock.fire(HEALTH_MS), 'the health timer is pending').toBe(true);
      r.held.release((label) => label.endsWith(' pong'));
      return;
    case 'SESSION_AGED':
      expect(r.clock.fire(AGE_MS), 'an age timer is pending').toBe(true);
      return;
    case 'SESSION_IDLED':
      expect(r.clock.fire(IDLE_MS), 'an idle timer is pending').toBe(true);
      return;
    case 'SPAWN_RETRY':
      expect(
        r.clock.fire((ms, timer) => !KNOWN.has(ms) && timer !== r.restart.id),
        'the spawn retry timer is pending',
      ).toBe(true);
      return;
    case 'SHUTDOWN':
      void r.h.shutdown();
      return;
    case 'TEMPLATE_UP':
      r.template.started();
      r.template.ready(true);
      return;
    case 'TEMPLATE_UNSAFE': {
      const kills = r.template.kills;
      r.template.started();
      r.template.ready(false);
      expect(r.template.kills, 'the unsafe template is killed').toBe(kills + 1);
      return;
    }
    case 'TEMPLATE_DOWN': {
      const first = r.clock.nextId();
      r.template.exit();
      // The template machine (open pool or closing) waits out its backoff before a restart.
      const timers = r.clock.timers().filter((t) => t.id >= first && !KNOWN.has(t.ms));
      expect(timers.length, `one restart timer is set: ${JSON.stringify(r.clock.timers())} from ${first}`).toBe(1);
      r.restart.id = timers[0]!.id;
      return;
    }
    case 'TEMPLATE_RESTART': {
      const spawned = r.template.spawned;
      expect(
        r.clock.fire((_, timer) => timer === r.restart.id),
        'the template restart timer is pending',
      ).toBe(true);
      r.restart.id = null;
      expect(r.template.spawned, 'a new template process').toBe(spawned + 1);
      return;
    }
    case 'TEMPLATE_RETIRED':
      r.template.exit();
      return;
    case 'TEMPLATE_STOPPED':
      expect(r.template.kills, 'the template was told to stop').toBeGreaterThan(0);
      r.template.exit();
      return;
  }
}

function compare(r: Real, spec: SpecSnapshot, where: string): void {
  const c = spec.context;
  const phases = (p: string): number => c.sessions.filter((s) => s.phase === p).length;
  const m = r.pool.metrics();
  expect({ idle: m.idle, busy: m.busy, starting: m.starting, stopping: m.stopping, waiting: m.waiting }, where).toEqual({
    idle: phases('idle'),
    busy: phases('leased'),
    starting: phases('starting'),
    stopping: phases('stopping'),
    waiting: c.waiters.length,
  });
  expect(Object.fromEntries(r.h.holders), where).toEqual(c.holders);
  for (const w of r.h.waiters) {
    if (w.settled && w.id !== 'refused') expect(`${w.id}: ${w.outcome}`, where).toBe(`${w.id}: ${c.outcomes[w.id]}`);
  }
  r.h.checkCounters(where);
  expect(r.h.violations, where).toEqual([]);
  expect(r.world.violations, where).toEqual([]);
  expect(r.h.closedEmitted, `${where}\nclosed`).toBe(spec.matches('closed'));
  if (spec.matches('closed')) expect(r.world.alive(), where).toEqual([]);
  expect(r.pool.snapshot().template?.status ?? 'none', `${where}\ntemplate status`).toBe(c.template);
  expect(r.template.alive, `${where}\ntemplate processes running`).toBe(c.templateAlive ? 1 : 0);
  const modes = Object.fromEntries(Object.keys(c.modes).map((id) => [id, r.world.spawnModes.get(id)]));
  expect(modes, `${where}\nspawn modes`).toEqual(c.modes);
}

const describeEvent = (e: PoolSpecEvent): string => e.type + ('slot' in e ? `(${e.slot})` : 'waiter' in e ? `(w#${e.waiter})` : '');

describe('pool machine: paths generated from its specification', () => {
  const runs: SpecRun[] = [];

  for (const fork of [false, true]) {
    const model = createTestModel(poolSpec, { input: { fork }, events: poolSpecEvents, serializeState: serializePoolSpec } as never);
    const events = [{ type: 'HEALTH_TICK' }, { type: 'ACQUIRE' }];
    const paths = coveringPaths(model as never, poolSpec, serializePoolSpec as never, 4, events as never) as Array<{
      events: PoolSpecEvent[];
    }>;
    runs.push(...paths.map((path) => ({ input: { fork }, events: path.events })));

    it(`replays ${paths.length} paths on a real SessionPool on fakes (spawn: ${fork ? 'fork' : 'exec'})`, async () => {
      for (const path of paths) {
        const spec = createActor(poolSpec, { input: { fork } }).start();
        const real = realPool(fork);
        await flushMicrotasks();
        compare(real, spec.getSnapshot(), 'at start');
        const trail: string[] = [];
        for (const event of path.events) {
          const before = spec.getSnapshot();
          spec.send(event);
          const after = spec.getSnapshot();
          trail.push(describeEvent(event));
          const where = `after ${trail.join(' -> ')} (spawn: ${fork ? 'fork' : 'exec'})\nlog:\n  ${real.h.log.join('\n  ')}`;
          try {
            execute(real, before, event);
          } catch (error) {
            throw new Error(`${where}\n${String(error)}`);
          }
          await flushMicrotasks();
          compare(real, after, where);
        }
        const closing = real.h.shutdown();
        real.held.release(() => true);
        real.template.finish();
        await closing;
      }
    });
  }

  it('reaches every state and every transition of the specification', () => {
    expectFullCoverage('pool', poolSpec, runs);
  });

  it('conforms structurally: every real transition is in the spec (or listed as not modelled), and back', () => {
    const unguarded = (t: TransitionInfo): string => `${t.source} | ${t.event} -> ${t.targets === '' ? '(self)' : t.targets}`;
    expectConformance({
      name: 'pool',
      real: poolMachine,
      spec: poolSpec,
      mapping: poolMapping,
      keyOf: unguarded,
      notModelled: poolNotModelled,
      specOnly: poolSpecOnly,
    });
  });
});
