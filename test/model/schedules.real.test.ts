/**
 * The generated schedules again, against real Python processes: fewer and shorter, since every
 * session is an interpreter. The scheduler orders the commands and when each caller observes its
 * acquire; the OS orders the processes. Crashes are SIGKILLs from outside; after shutdown the OS
 * (not the pool) must show no process of the pool.
 */
import fc from 'fast-check';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { SessionPool } from '../../src/index.js';
import { processesMentioning, processName } from '../helpers/os.js';
import { budget, fcParams } from './config.js';
import { flushMicrotasks, PoolHarness } from './harness.js';

type Cmd = fc.AsyncCommand<object, PoolHarness>;
const MAX = 2;
const MIN_IDLE = 1;

const cmd = (label: string, run: (h: PoolHarness) => void | Promise<void>): Cmd => ({
  check: () => true,
  run: async (_, h) => {
    await run(h);
    h.check(label);
  },
  toString: () => label,
});

const CODE = { ok: '1 + 1', slow: 'import time; time.sleep(0.3)', exit: 'import os; os._exit(3)', fail: 'raise ValueError(1)' } as const;

const commands = fc.commands(
  [
    fc
      .tuple(fc.option(fc.constantFrom(100, 3000), { nil: undefined }), fc.boolean())
      .map(([t, a]) =>
        cmd(
          `acquire(${t ?? '∞'}${a ? ', abortable' : ''})`,
          (h) => void h.acquire({ ...(t !== undefined ? { timeoutMs: t } : {}), abortable: a }),
        ),
      ),
    fc.nat(3).map((i) =>
      cmd(`abort(${i})`, (h) => {
        const open = h.waiters.filter((w) => w.abort !== null && !w.abort.signal.aborted);
        open[i % Math.max(1, open.length)]?.abort?.abort();
      }),
    ),
    fc.tuple(fc.nat(3), fc.boolean()).map(([i, d]) =>
      cmd(`${d ? 'destroy' : 'release'}(${i})`, (h) => {
        const leases = h.liveLeases();
        const lease = leases[i % Math.max(1, leases.length)];
        if (lease) h.release(lease, d);
      }),
    ),
    fc.tuple(fc.nat(3), fc.constantFrom('ok', 'slow', 'exit', 'fail') as fc.Arbitrary<keyof typeof CODE>, fc.boolean()).map(([i, c, t]) =>
      cmd(`execute(${i}, ${c}${t ? ', 100ms' : ''})`, (h) => {
        const leases = h.liveLeases();
        const lease = leases[i % Math.max(1, leases.length)];
        if (lease) h.execute(lease, CODE[c], t ? 100 : undefined);
      }),
    ),
    fc.nat(3).map((i) =>
      cmd(`interrupt(${i})`, (h) => {
        const leases = h.liveLeases();
        leases[i % Math.max(1, leases.length)]?.session.interrupt();
      }),
    ),
    // Any process of the pool: a session's, or in spawn 'fork' the template or its spare.
    fc.nat(3).map((i) =>
      cmd(`sigkill(${i})`, (h) => {
        const pids = processesMentioning(h.pool.id);
        sigkill(pids[i % Math.max(1, pids.length)]);
      }),
    ),
    // Spawn 'fork': the template dies; the pool execs until the template machine has restarted it.
    fc.constant(cmd('sigkill(template)', (h) => sigkill(h.pool.snapshot().template?.pid ?? undefined))),
    fc.constantFrom(20, 150).map((ms) => cmd(`time passes(${ms})`, () => new Promise<void>((resolve) => setTimeout(resolve, ms)))),
    fc.constant(cmd('shutdown', (h) => void h.shutdown())),
  ],
  { maxCommands: 8 },
);

function sigkill(pid: number | undefined): void {
  if (pid === undefined) return;
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // It exited meanwhile.
  }
}

/** Waits, in real time, until `done()` holds; the bound only turns a hang into a failure. */
async function eventually(done: () => boolean, ms = 20_000): Promise<boolean> {
  const until = Date.now() + ms;
  while (!done()) {
    if (Date.now() > until) return false;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return true;
}

describe('generated concurrent schedules on real Python processes', () => {
  it(
    'keep every invariant of the pool',
    async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.scheduler(),
          fc.constantFrom('exec', 'fork') as fc.Arbitrary<'exec' | 'fork'>,
          commands,
          async (s, spawn, cmds) => {
            const pool = new SessionPool({
              spawn,
              minIdle: MIN_IDLE,
              maxSessions: MAX,
              acquireTimeoutMs: Infinity,
              healthCheckIntervalMs: 200,
              interruptGraceMs: 500,
              logger: pino({ level: 'silent' }),
            });
            const h = new PoolHarness(pool, MAX);
            const report = (): string => `\nviolations: ${h.violations.join('; ')}\nlog:\n  ${h.log.join('\n  ')}`;
            try {
              await pool.start().catch(() => undefined);
              await fc.scheduledModelRun(s, () => ({ model: {}, real: h }), cmds);
              expect(h.violations, report()).toEqual([]);
              if (!h.shutdownCalled) {
                const quiet = async (): Promise<boolean> =>
                  eventually(() => {
                    for (const lease of h.liveLeases()) h.release(lease);
                    const m = pool.metrics();
                    return (
                      h.pendingAcquires().length === 0 &&
                      h.liveLeases().length === 0 &&
                      m.busy === 0 &&
                      m.starting === 0 &&
                      m.idle >= MIN_IDLE
                    );
                  });
                const ok = await quiet();
                expect(
                  h.pendingAcquires().map((w) => w.id),
                  `acquires left pending${report()}`,
                ).toEqual([]);
                expect(pool.metrics().busy, `sessions lost${report()}`).toBe(0);
                expect(ok, `the pool never became quiet (minIdle restored)${report()}`).toBe(true);
                h.check('drained');
              }
              await h.shutdown();
              await flushMicrotasks();
              expect(
                await eventually(() => h.pendingAcquires().length === 0 && h.unsettledExecutions().length === 0, 5000),
                `unsettled calls${report()}`,
              ).toBe(true);
              const m = pool.metrics();
              expect({ total: m.total, stopping: m.stopping, waiting: m.waiting }).toEqual({ total: 0, stopping: 0, waiting: 0 });
              expect(
                processesMentioning(pool.id).map((pid) => `${pid} ${processName(pid)} ${spawn}`),
                `processes alive after shutdown${report()}`,
              ).toEqual([]);
              expect(h.violations, report()).toEqual([]);
            } finally {
              await pool.shutdown();
            }
          },
        ),
        fcParams(6, 0.05),
      );
    },
    budget(6, 3000, 0.05),
  );
});
