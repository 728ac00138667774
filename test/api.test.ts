import { randomUUID } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  AcquireTimeoutError,
  InvalidOptionError,
  PoolClosedError,
  SessionBusyError,
  SessionPool,
  SessionReleasedError,
  SessionStartError,
} from '../src/index.js';
import { nextEvent, settledNow } from './helpers/events.js';
import { isAlive } from './helpers/os.js';
import { expectConsistent, expectNoProcesses, makePool } from './helpers/pool.js';

describe('the API refuses what it cannot do, with typed errors', () => {
  it.each([
    [{ minIdle: -1 }, /minIdle must be an integer >= 0/],
    [{ maxSessions: 0 }, /maxSessions must be an integer >= 1/],
    [{ minIdle: 3, maxSessions: 2 }, /minIdle \(3\) must not exceed maxSessions \(2\)/],
    [{ releasePolicy: 'sometimes' }, /releasePolicy must be 'keep' or 'recycle'/],
    [{ spawn: 'clone' }, /spawn must be 'fork' or 'exec'/],
    [{ limits: { memoryBytes: -5 } }, /limits.memoryBytes must be a positive integer/],
    [{ acquireTimeoutMs: Number.NaN }, /acquireTimeoutMs must be a number of milliseconds/],
    // A typo is an error at once, not an option silently ignored; a near name is suggested.
    [{ maxSession: 2 }, /^maxSession is not an option; did you mean maxSessions\?$/],
    [{ minidle: 0 }, /^minidle is not an option; did you mean minIdle\?$/],
    [{ colour: 'blue' }, /^colour is not an option$/],
    [{ limits: { memoryByte: 1 } }, /^limits.memoryByte is not an option; did you mean limits.memoryBytes\?$/],
    [{ limits: 5 }, /^limits must be an object$/],
    [{ sandbox: { networks: true } }, /^sandbox.networks is not an option; did you mean sandbox.network\?$/],
    [
      { sandbox: { binds: [{ path: '/data', writeable: true }] } },
      /^sandbox.binds\[0\].writeable is not an option; did you mean sandbox.binds\[0\].writable\?$/,
    ],
  ])('new SessionPool(%j) throws InvalidOptionError', (options, message) => {
    expect(() => new SessionPool(options as never)).toThrow(InvalidOptionError);
    expect(() => new SessionPool(options as never)).toThrow(message);
  });

  it('rejects a second execute on a busy session with SessionBusyError, and the first one still completes', async () => {
    const pool = makePool({ minIdle: 1, maxSessions: 1 });
    const s = await pool.acquire();
    const first = s.execute('import time; time.sleep(0.2); "done"');
    await expect(s.execute('1')).rejects.toBeInstanceOf(SessionBusyError);
    expect((await first).value).toBe("'done'");
  });

  it('refuses bad execute arguments with InvalidOptionError, and the session still works', async () => {
    const pool = makePool({ minIdle: 1, maxSessions: 1 });
    const s = await pool.acquire();
    await expect(s.execute(42 as unknown as string)).rejects.toThrow(/code must be a string/);
    await expect(s.execute('1', { timeoutMs: -5 })).rejects.toBeInstanceOf(InvalidOptionError);
    expect((await s.execute('1 + 1', { timeoutMs: Infinity })).value).toBe('2');
  });

  it('refuses a released handle with SessionReleasedError: a late caller never reaches the next holder', async () => {
    const pool = makePool({ minIdle: 1, maxSessions: 1 });
    const s = await pool.acquire();
    await s.release();
    await s.release(); // idempotent
    await expect(s.execute('1')).rejects.toBeInstanceOf(SessionReleasedError);
    expect(() => s.interrupt()).toThrow(SessionReleasedError);
    const next = await pool.acquire();
    expect(next.id).toBe(s.id);
  });

  it("refuses to release another pool's session with InvalidOptionError; both pools stay as they were", async () => {
    const mine = makePool({ minIdle: 1, maxSessions: 1 });
    const other = makePool({ minIdle: 1, maxSessions: 1 });
    const theirs = await other.acquire();
    const error = await mine.release(theirs).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidOptionError);
    expect((error as Error).message).toContain(`session ${theirs.id} was not acquired from this pool (${mine.id})`);
    await expect(mine.release(undefined as never)).rejects.toBeInstanceOf(InvalidOptionError);
    // The other pool's lease still holds and works; neither pool's books moved.
    expect(theirs.released).toBe(false);
    expect((await theirs.execute('1 + 1')).value).toBe('2');
    expect(other.metrics()).toMatchObject({ busy: 1, idle: 0 });
    await mine.start();
    expect(mine.metrics()).toMatchObject({ busy: 0, idle: 1 });
    expectConsistent(mine);
    expectConsistent(other);
    await other.release(theirs);
    expect(other.metrics()).toMatchObject({ busy: 0, idle: 1 });
  });

  it('a grant whose caller gave up in the same step goes back to the pool; the caller gets its abort reason', async () => {
    const pool = makePool({ minIdle: 0, maxSessions: 1 });
    const controller = new AbortController();
    // The session's readiness and its grant to this waiter are one step of the supervisor: the
    // abort lands between them, so the grant finds no caller.
    pool.once('sessionReady', () => controller.abort(new Error('gave up')));
    const granted = nextEvent(pool, 'granted');
    const error = await pool.acquire({ signal: controller.signal }).catch((e: unknown) => e);
    expect((error as Error).message).toBe('gave up');
    await granted;
    expect(pool.metrics()).toMatchObject({ idle: 1, busy: 0, waiting: 0 });
    expectConsistent(pool);
    const next = await pool.acquire({ timeoutMs: 5_000 });
    expect((await next.execute('1 + 1')).value).toBe('2');
  });

  it('interrupts an execution when its AbortSignal aborts', async () => {
    const pool = makePool({ minIdle: 1, maxSessions: 1 });
    const s = await pool.acquire();
    const controller = new AbortController();
    const r = await s.execute('import time\nprint("go", flush=True)\ntime.sleep(30)', {
      signal: controller.signal,
      onOutput: () => controller.abort(),
    });
    expect(r.status).toBe('interrupted');
  });

  it('at shutdown: waiters get PoolClosedError, running executions end, later acquires are refused at once', async () => {
    const pool = makePool({ minIdle: 1, maxSessions: 1 });
    const held = await pool.acquire();
    const running = held.execute('import time; time.sleep(30)').catch((e: unknown) => e);
    const waiting = pool.acquire({ timeoutMs: 30_000 }).catch((e: unknown) => e);
    await pool.shutdown();
    expect(await waiting).toBeInstanceOf(PoolClosedError);
    expect(await running).toBeInstanceOf(PoolClosedError);
    await expect(pool.acquire()).rejects.toBeInstanceOf(PoolClosedError);
    expect(isAlive(held.pid)).toBe(false);
    await pool.shutdown(); // idempotent
    await held.release(); // after shutdown: nothing to give back, no error
  });
});

describe('graceful shutdown: shutdown({ graceMs })', () => {
  it('refuses new work at once and lets a running execution finish', async () => {
    const pool = makePool({ minIdle: 1, maxSessions: 1 });
    const s = await pool.acquire();
    const flag = join(tmpdir(), `pyrepl3-flag-${randomUUID()}`);
    let started!: () => void;
    const printed = new Promise<void>((resolve) => (started = resolve));
    const code = `import os, time\nprint("started", flush=True)\nwhile not os.path.exists(${JSON.stringify(flag)}): time.sleep(0.01)\n"done"`;
    const running = s.execute(code, { onOutput: () => started() });
    try {
      await printed;
      const failed = nextEvent(pool, 'acquireFailed');
      const waiting = pool.acquire({ timeoutMs: 30_000 }).catch((e: unknown) => e);
      const closed = pool.shutdown({ graceMs: 30_000 });
      expect(await settledNow(waiting)).toBeInstanceOf(PoolClosedError);
      expect((await failed)[0].reason).toBe('closed');
      await expect(pool.acquire()).rejects.toBeInstanceOf(PoolClosedError);
      expect(pool.snapshot().state).toBe('closing');
      expect(await settledNow(closed)).toBe('pending');
      writeFileSync(flag, '');
      expect((await running).value).toBe("'done'");
      await closed;
    } finally {
      rmSync(flag, { force: true });
    }
    expect(isAlive(s.pid)).toBe(false);
    expectNoProcesses(pool);
  });

  it('stops what still runs once the grace is over: the execution fails with PoolClosedError', async () => {
    const pool = makePool({ minIdle: 1, maxSessions: 1 });
    const s = await pool.acquire();
    const running = s.execute('import time; time.sleep(30)').catch((e: unknown) => e);
    const begun = performance.now();
    await pool.shutdown({ graceMs: 300 });
    expect(performance.now() - begun).toBeGreaterThanOrEqual(295);
    expect(await running).toBeInstanceOf(PoolClosedError);
    expect(isAlive(s.pid)).toBe(false);
    expectNoProcesses(pool);
  });

  it('is cut short by a later shutdown with a shorter grace', async () => {
    const pool = makePool({ minIdle: 1, maxSessions: 1 });
    const s = await pool.acquire();
    const running = s.execute('import time; time.sleep(30)').catch((e: unknown) => e);
    const patient = pool.shutdown({ graceMs: Infinity });
    expect(await settledNow(patient)).toBe('pending');
    const now = pool.shutdown();
    expect(now).toBe(patient);
    await now;
    expect(await running).toBeInstanceOf(PoolClosedError);
    expectNoProcesses(pool);
  });

  it('refuses bad options with InvalidOptionError, and the pool goes on', async () => {
    const pool = makePool({ minIdle: 1, maxSessions: 1 });
    await expect(pool.shutdown({ graceMs: -1 })).rejects.toThrow(/graceMs must be a number of milliseconds >= 0/);
    await expect(pool.shutdown({ grace: 5 } as never)).rejects.toThrow(/^grace is not an option; did you mean graceMs\?$/);
    const s = await pool.acquire();
    expect((await s.execute('1 + 1')).value).toBe('2');
  });
});

describe('the cause of an acquire timeout', () => {
  it('is no start failure once a session has started again', async () => {
    // The first session's warmup raises; the next one's succeeds.
    const marker = join(tmpdir(), `pyrepl3-first-fails-${randomUUID()}`);
    const warmupCode = `import os\ntry:\n    os.close(os.open(${JSON.stringify(marker)}, os.O_CREAT | os.O_EXCL))\nexcept FileExistsError:\n    pass\nelse:\n    1 / 0`;
    try {
      const pool = makePool({ minIdle: 1, maxSessions: 1, warmupCode });
      await expect(pool.start()).rejects.toBeInstanceOf(SessionStartError);
      const held = await pool.acquire({ timeoutMs: 10_000 });
      const error = (await pool.acquire({ timeoutMs: 0 }).catch((e: unknown) => e)) as AcquireTimeoutError;
      expect(error).toBeInstanceOf(AcquireTimeoutError);
      expect(error.cause).toBeUndefined();
      expect(error.message).toBe('no session became available within 0 ms');
      await held.release();
    } finally {
      rmSync(marker, { force: true });
    }
  });
});

describe('retirement by executions', () => {
  it('counts an execution cut short by the release itself: the supervisor reads the count from the session once it has ended', async () => {
    const pool = makePool({ minIdle: 1, maxSessions: 1, maxExecutionsPerSession: 1 });
    const s = await pool.acquire();
    const running = s.execute('import time\nprint("go", flush=True)\ntime.sleep(30)', { onOutput: () => void s.release() });
    const released = nextEvent(pool, 'released', (e) => e.sessionId === s.id);
    const retired = nextEvent(pool, 'sessionDied', (e) => e.sessionId === s.id);
    expect((await running).status).toBe('interrupted');
    expect((await released)[0].kept).toBe(false);
    expect((await retired)[0].cause).toEqual({ kind: 'stopped', reason: 'retired' });
    const next = await pool.acquire();
    expect(next.id).not.toBe(s.id);
    expect(pool.snapshot().sessions.map((session) => session.executions)).toEqual([0]);
  });
});

describe('health checks', () => {
  it('replace an idle session that stops answering pings', async () => {
    const pool = makePool({ minIdle: 1, maxSessions: 1, healthCheckIntervalMs: 100, pingTimeoutMs: 200 });
    const s = await pool.acquire();
    const frozen = s.pid;
    await s.release();
    const died = nextEvent(pool, 'sessionDied');
    process.kill(frozen, 'SIGSTOP');
    const [death] = await died;
    expect(death.cause).toEqual({ kind: 'healthCheckFailed', timeoutMs: 200 });
    expect(pool.metrics().died).toBe(1);
    const fresh = await pool.acquire();
    expect(fresh.pid).not.toBe(frozen);
    expect(isAlive(frozen)).toBe(false);
    expect((await fresh.execute('1 + 1')).value).toBe('2');
  });
});
