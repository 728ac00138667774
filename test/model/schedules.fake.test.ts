/**
 * Generated concurrent schedules against a SessionPool on in-memory fake workers. fast-check picks
 * the operations and, through its scheduler, the order in which every command, every process event
 * (ready, results, pongs, exits) and every promise resolves. The invariants of issue 4 are checked
 * at every pool event, after every command, and once the schedule has drained.
 *
 * Replay a failure: npm run test:model -- --seed <seed> --path <path> (both printed on failure).
 */
import fc from 'fast-check';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { SessionPool, type SessionPoolOptions } from '../../src/index.js';
import { ModelClock } from './clock.js';
import { budget, fcParams } from './config.js';
import { FakeTemplate, FakeWorld } from './fake-worker.js';
import { flushMicrotasks, PoolHarness } from './harness.js';

interface Real {
  h: PoolHarness;
  world: FakeWorld;
  clock: ModelClock;
  minIdle: number;
  /** Spawn 'fork': the scripted template process; null in spawn 'exec'. */
  template: FakeTemplate | null;
}
type Cmd = fc.AsyncCommand<object, Real>;

const check = (r: Real, where: string): void => {
  r.h.check(where);
  r.h.checkCounters(where);
};

class Acquire implements Cmd {
  constructor(
    readonly timeoutMs: number | undefined,
    readonly abortable: boolean,
  ) {}
  check = (): boolean => true;
  async run(_: object, r: Real): Promise<void> {
    r.h.acquire({ ...(this.timeoutMs !== undefined ? { timeoutMs: this.timeoutMs } : {}), abortable: this.abortable });
    check(r, this.toString());
  }
  toString = (): string => `acquire(${this.timeoutMs ?? '∞'}${this.abortable ? ', abortable' : ''})`;
}

class Abort implements Cmd {
  constructor(readonly index: number) {}
  check = (): boolean => true;
  async run(_: object, r: Real): Promise<void> {
    const candidates = r.h.waiters.filter((w) => w.abort !== null && !w.abort.signal.aborted);
    const waiter = candidates[this.index % Math.max(1, candidates.length)];
    if (waiter === undefined) return;
    r.h.log.push(`abort ${waiter.id}`);
    waiter.abort!.abort();
    check(r, this.toString());
  }
  toString = (): string => `abort(${this.index})`;
}

class Release implements Cmd {
  constructor(
    readonly index: number,
    readonly destroy: boolean,
  ) {}
  check = (): boolean => true;
  async run(_: object, r: Real): Promise<void> {
    const leases = r.h.liveLeases();
    const lease = leases[this.index % Math.max(1, leases.length)];
    if (lease === undefined) return;
    r.h.release(lease, this.destroy);
    check(r, this.toString());
  }
  toString = (): string => `${this.destroy ? 'destroy' : 'release'}(${this.index})`;
}

class Execute implements Cmd {
  constructor(
    readonly index: number,
    readonly code: 'ok' | 'hang' | 'crash' | 'fail',
    readonly timeoutMs: number | undefined,
  ) {}
  check = (): boolean => true;
  async run(_: object, r: Real): Promise<void> {
    const leases = r.h.liveLeases();
    const lease = leases[this.index % Math.max(1, leases.length)];
    if (lease === undefined) return;
    r.h.execute(lease, this.code, this.timeoutMs);
    check(r, this.toString());
  }
  toString = (): string => `execute(${this.index}, ${this.code}, ${this.timeoutMs ?? '∞'})`;
}

class Interrupt implements Cmd {
  constructor(readonly index: number) {}
  check = (): boolean => true;
  async run(_: object, r: Real): Promise<void> {
    const leases = r.h.liveLeases();
    const lease = leases[this.index % Math.max(1, leases.length)];
    if (lease === undefined) return;
    r.h.log.push(`interrupt ${lease.session.id}`);
    lease.session.interrupt();
    check(r, this.toString());
  }
  toString = (): string => `interrupt(${this.index})`;
}

/** A process dies on its own: at spawn, in warmup, idle, or mid-execution, whichever it is in now. */
class Crash implements Cmd {
  constructor(readonly index: number) {}
  check = (): boolean => true;
  async run(_: object, r: Real): Promise<void> {
    const alive = r.world.alive();
    const process = alive[this.index % Math.max(1, alive.length)];
    if (process === undefined) return;
    r.h.log.push(`crash ${process.sessionId}`);
    process.crash();
    check(r, this.toString());
  }
  toString = (): string => `crash(${this.index})`;
}

class FailSpawns implements Cmd {
  constructor(readonly count: number) {}
  check = (): boolean => true;
  async run(_: object, r: Real): Promise<void> {
    r.world.failingSpawns = this.count;
    r.h.log.push(`failSpawns ${this.count}`);
  }
  toString = (): string => `failSpawns(${this.count})`;
}

/** Time passes: health ticks, acquire deadlines, start/warmup/ping timeouts, backoff, idle retirement. */
class Advance implements Cmd {
  constructor(readonly ms: number) {}
  check = (): boolean => true;
  async run(_: object, r: Real): Promise<void> {
    r.h.log.push(`advance ${this.ms}`);
    r.clock.advance(this.ms);
    check(r, this.toString());
  }
  toString = (): string => `advance(${this.ms})`;
}

/** The template process (spawn 'fork') says it started and warmed up: fork-safe, or with threads. */
class TemplateReady implements Cmd {
  constructor(readonly forkSafe: boolean) {}
  check = (): boolean => true;
  async run(_: object, r: Real): Promise<void> {
    if (r.template === null || r.template.alive === 0) return;
    r.h.log.push(`template ready ${this.forkSafe ? 'safe' : 'unsafe'}`);
    r.template.started();
    r.template.ready(this.forkSafe);
    check(r, this.toString());
  }
  toString = (): string => `templateReady(${this.forkSafe ? 'safe' : 'unsafe'})`;
}

/** The template process dies (its spares with it); the template machine restarts it after a back-off. */
class TemplateDies implements Cmd {
  check = (): boolean => true;
  async run(_: object, r: Real): Promise<void> {
    if (r.template === null || r.template.alive === 0) return;
    r.h.log.push('template dies');
    r.template.exit();
    check(r, this.toString());
  }
  toString = (): string => 'templateDies';
}

/** A spare on order (when spares are held back) becomes ready, or is lost. */
class SettleSpare implements Cmd {
  constructor(readonly ready: boolean) {}
  check = (): boolean => true;
  async run(_: object, r: Real): Promise<void> {
    if (r.template === null || r.template.alive === 0) return;
    if (r.template.settleSpare(this.ready)) r.h.log.push(`spare ${this.ready ? 'ready' : 'lost'}`);
    check(r, this.toString());
  }
  toString = (): string => `spare(${this.ready ? 'ready' : 'lost'})`;
}

class Shutdown implements Cmd {
  check = (): boolean => true;
  async run(_: object, r: Real): Promise<void> {
    void r.h.shutdown(); // not awaited: the schedule goes on while the pool shuts down
    check(r, this.toString());
  }
  toString = (): string => 'shutdown';
}

const commands = fc.commands(
  [
    fc.tuple(fc.option(fc.constantFrom(50, 300, 2000), { nil: undefined }), fc.boolean()).map(([t, a]) => new Acquire(t, a)),
    fc.nat(7).map((i) => new Abort(i)),
    fc.tuple(fc.nat(7), fc.boolean()).map(([i, d]) => new Release(i, d)),
    fc
      .tuple(
        fc.nat(7),
        fc.constantFrom('ok', 'hang', 'crash', 'fail') as fc.Arbitrary<'ok' | 'hang' | 'crash' | 'fail'>,
        fc.option(fc.constantFrom(100, 1000), { nil: undefined }),
      )
      .map(([i, c, t]) => new Execute(i, c, t)),
    fc.nat(7).map((i) => new Interrupt(i)),
    fc.nat(7).map((i) => new Crash(i)),
    fc.integer({ min: 1, max: 3 }).map((n) => new FailSpawns(n)),
    fc.constantFrom(10, 100, 250, 1000, 5000).map((ms) => new Advance(ms)),
    fc.constant(new Shutdown()),
    fc.boolean().map((safe) => new TemplateReady(safe)),
    fc.constant(new TemplateDies()),
    fc.boolean().map((ready) => new SettleSpare(ready)),
  ],
  { maxCommands: 30 },
);

const poolShapes = fc.record({
  minIdle: fc.integer({ min: 0, max: 2 }),
  extra: fc.integer({ min: 0, max: 2 }),
  warmup: fc.boolean(),
  releasePolicy: fc.constantFrom('keep', 'recycle') as fc.Arbitrary<'keep' | 'recycle'>,
  maxExecutionsPerSession: fc.option(fc.integer({ min: 1, max: 3 }), { nil: undefined }),
  /** Spawn 'fork' on a scripted template; whether its spares are ready at once or when a command says. */
  fork: fc.boolean(),
  holdSpares: fc.boolean(),
});

type Shape = typeof poolShapes extends fc.Arbitrary<infer T> ? T : never;

function makeReal(s: fc.Scheduler, shape: Shape): Real {
  const world = new FakeWorld((label, event) => {
    void s.schedule(Promise.resolve(label), label).then(event);
  });
  const clock = new ModelClock();
  const maxSessions = Math.max(1, shape.minIdle + shape.extra);
  const options: SessionPoolOptions = {
    minIdle: shape.minIdle,
    maxSessions,
    acquireTimeoutMs: Infinity,
    healthCheckIntervalMs: 700,
    pingTimeoutMs: 200,
    startTimeoutMs: 1500,
    warmupTimeoutMs: 1500,
    interruptGraceMs: 150,
    idleTimeoutMs: 4000,
    releasePolicy: shape.releasePolicy,
    ...(shape.maxExecutionsPerSession !== undefined ? { maxExecutionsPerSession: shape.maxExecutionsPerSession } : {}),
    ...(shape.warmup ? { warmupCode: 'warm' } : {}),
    ...(shape.fork ? { spawn: 'fork' as const } : {}),
    logger: pino({ level: 'silent' }),
  };
  const template = shape.fork ? forkTemplate(world, shape.holdSpares) : null;
  const pool = new SessionPool(options, {
    processActor: world.processActor,
    clock,
    ...(template ? { templateProcessActor: () => template.logic } : {}),
  });
  void pool.start().catch(() => undefined);
  return { h: new PoolHarness(pool, maxSessions), world, clock, minIdle: shape.minIdle, template };
}

/** A template process that dies when killed, as a real one does; forked sessions take its spares. */
function forkTemplate(world: FakeWorld, holdSpares: boolean): FakeTemplate {
  const template = new FakeTemplate();
  template.exitOnKill = true;
  template.holdSpares = holdSpares;
  world.spares = template;
  return template;
}

/** Runs the scheduler and the clock until `done` holds; false if it never does (a deadlock, a lost session). */
async function drain(s: fc.Scheduler, r: Real, done: () => boolean, rounds = 400): Promise<boolean> {
  for (let i = 0; i < rounds; i++) {
    await s.waitAll();
    await flushMicrotasks();
    if (s.count() > 0) continue;
    if (done()) return true;
    for (const lease of r.h.liveLeases()) r.h.release(lease);
    await flushMicrotasks();
    if (s.count() > 0) continue;
    if (done()) return true;
    if (!r.clock.advanceToNext()) return done();
  }
  return done();
}

/** The end of every schedule: the pool drains open, then shuts down, and owes the invariants. */
async function finish(s: fc.Scheduler, r: Real): Promise<void> {
  const { h, world } = r;
  const report = (): string => `\nviolations: ${h.violations.join('; ')}\nlog:\n  ${h.log.join('\n  ')}`;
  expect(h.violations, report()).toEqual([]);
  if (!h.shutdownCalled) {
    world.failingSpawns = 0;
    // Deadlock freedom: with every lease given back and spawns working again, every acquire settles,
    // nothing is lost (busy 0) and minIdle is restored.
    const quiet = (): boolean => {
      const m = h.pool.metrics();
      return h.pendingAcquires().length === 0 && h.liveLeases().length === 0 && m.busy === 0 && m.starting === 0 && m.idle >= r.minIdle;
    };
    const ok = await drain(s, r, quiet);
    expect(
      h.pendingAcquires().map((w) => w.id),
      `acquires left pending on an open pool${report()}`,
    ).toEqual([]);
    expect(h.pool.metrics().busy, `sessions lost (busy with nobody holding them)${report()}`).toBe(0);
    expect(h.pool.metrics().idle, `minIdle not restored${report()}`).toBeGreaterThanOrEqual(r.minIdle);
    expect(ok, `the pool never became quiet${report()}`).toBe(true);
    h.check('drained');
    h.checkCounters('drained');
  }
  let closed = false;
  void h.shutdown().then(() => (closed = true));
  await drain(s, r, () => closed && h.pendingAcquires().length === 0 && h.unsettledExecutions().length === 0);
  expect(closed, `shutdown never completed${report()}`).toBe(true);
  const m = h.pool.metrics();
  expect({ total: m.total, stopping: m.stopping, waiting: m.waiting }, report()).toEqual({ total: 0, stopping: 0, waiting: 0 });
  expect(
    world.alive().map((p) => p.sessionId),
    `processes still running after shutdown${report()}`,
  ).toEqual([]);
  expect(r.template?.alive ?? 0, `a template process still running after shutdown${report()}`).toBe(0);
  h.checkCounters('closed');
  expect(world.violations, report()).toEqual([]);
  expect(
    h.pendingAcquires().map((w) => w.id),
    `acquires never settled${report()}`,
  ).toEqual([]);
  expect(h.unsettledExecutions(), `executions never settled${report()}`).toEqual([]);
  expect(h.closedEmitted).toBe(true);
  expect(h.violations, report()).toEqual([]);
}

describe('generated concurrent schedules on fake workers', () => {
  it(
    'keep every invariant of the pool',
    async () => {
      await fc.assert(
        fc.asyncProperty(fc.scheduler(), poolShapes, commands, async (s, shape, cmds) => {
          const r = makeReal(s, shape);
          await fc.scheduledModelRun(s, () => ({ model: {}, real: r }), cmds);
          await finish(s, r);
        }),
        fcParams(200),
      );
    },
    budget(200, 40),
  );
});
