import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { AcquireTimeoutError, CodeTooLargeError, SessionDiedError, SessionStartError, type SessionPool } from '../src/index.js';
import { ensureBuilt } from './helpers/build.js';
import { idleReaches, nextEvent, settledNow } from './helpers/events.js';
import { isAlive, processesMentioning } from './helpers/os.js';
import { SessionFaults } from './helpers/faults.js';
import { expectConsistent, expectNoProcesses, makePool, sessionProcesses, SPAWN_MODES } from './helpers/pool.js';

const SILENT_PYTHON = fileURLToPath(new URL('./fixtures/silent-python', import.meta.url));
const DIST_INDEX = fileURLToPath(new URL('../dist/src/index.js', import.meta.url));

/** After every hostile case: the pool still serves, its books balance, the OS agrees with them. */
async function expectPoolServes(pool: SessionPool): Promise<void> {
  const session = await pool.acquire({ timeoutMs: 10_000 });
  expect((await session.execute('6 * 7')).value).toBe('42');
  await session.release();
  expectConsistent(pool);
}

describe.each(SPAWN_MODES)('spawn %s', (mode) => {
  describe('hostile code in a session', () => {
    let pool: SessionPool;
    afterEach(async () => {
      await expectPoolServes(pool);
    });

    it('an infinite loop with a timeout is interrupted; the session keeps its state', async () => {
      pool = makePool({ spawn: mode, minIdle: 1, maxSessions: 2 });
      const s = await pool.acquire();
      await s.execute('kept = "state"');
      const r = await s.execute('while True: pass', { timeoutMs: 300 });
      expect(r.status).toBe('timeout');
      expect(r.error?.name).toBe('TimeoutError');
      expect((await s.execute('kept')).value).toBe("'state'");
      await s.release();
    });

    it('a loop that swallows KeyboardInterrupt is killed after the grace period; the pool replaces it', async () => {
      pool = makePool({ spawn: mode, minIdle: 1, maxSessions: 2, interruptGraceMs: 300 });
      const s = await pool.acquire();
      const code = 'import time\nwhile True:\n    try:\n        time.sleep(10)\n    except KeyboardInterrupt:\n        pass';
      const died = nextEvent(pool, 'sessionDied', (e) => e.sessionId === s.id);
      const r = await s.execute(code, { timeoutMs: 300 });
      expect(r.status).toBe('timeout');
      expect(r.error?.message).toMatch(/killed/);
      const [death] = await died;
      expect(death.cause.kind).toBe('executionTimeout');
      expect(isAlive(s.pid)).toBe(false);
      await expect(s.execute('1')).rejects.toBeInstanceOf(SessionDiedError);
      expect(pool.metrics().died).toBe(1);
      await s.release();
    });

    it('interrupt() stops a sleep with status interrupted and keeps the state', async () => {
      pool = makePool({ spawn: mode, minIdle: 1, maxSessions: 1 });
      const s = await pool.acquire();
      await s.execute('before = 1');
      const r = await s.execute('import time\nprint("sleeping", flush=True)\ntime.sleep(30)\nafter = 1', {
        onOutput: () => s.interrupt(),
      });
      expect(r.status).toBe('interrupted');
      expect(r.error?.name).toBe('KeyboardInterrupt');
      expect((await s.execute('before, "after" in globals()')).value).toBe('(1, False)');
      await s.release();
    });

    it.each([
      ['os._exit(3)', 'import os; os._exit(3)', { exitCode: 3, signal: null }],
      ['a segfault through ctypes', 'import ctypes; ctypes.string_at(0)', { exitCode: null, signal: 'SIGSEGV' }],
    ])('%s rejects the execution with SessionDiedError and the pool replaces the session', async (_, code, exit) => {
      pool = makePool({ spawn: mode, minIdle: 1, maxSessions: 2 });
      await pool.start();
      const s = await pool.acquire();
      const error = await s.execute(code).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(SessionDiedError);
      expect(error).toMatchObject(exit);
      expect(pool.metrics().died).toBe(1);
      await s.release();
      await idleReaches(pool, 1);
    });

    it('a session that dies mid-execution rejects with SessionDiedError carrying what it printed so far', async () => {
      pool = makePool({ spawn: mode, minIdle: 1, maxSessions: 2 });
      const s = await pool.acquire();
      // The code exits only once the host has both lines: a flag file the onOutput callback creates.
      const flag = join(tmpdir(), `pyrepl3-flag-${randomUUID()}`);
      const code = `import os, sys, time\nprint("to out", flush=True)\nprint("to err", file=sys.stderr, flush=True)\nwhile not os.path.exists(${JSON.stringify(flag)}): time.sleep(0.01)\nos._exit(1)`;
      const seen = { stdout: '', stderr: '' };
      const error = await s
        .execute(code, {
          onOutput: (chunk) => {
            if (chunk.type !== 'stream') return;
            seen[chunk.stream] += chunk.text;
            if (seen.stdout === 'to out\n' && seen.stderr === 'to err\n') writeFileSync(flag, '');
          },
        })
        .catch((e: unknown) => e);
      rmSync(flag, { force: true });
      expect(error).toBeInstanceOf(SessionDiedError);
      expect(error).toMatchObject({ exitCode: 1, stdout: 'to out\n', stderr: 'to err\n' });
      // A later call on the dead session has nothing of its own to show.
      expect(await s.execute('1').catch((e: unknown) => e)).toMatchObject({ stdout: '', stderr: '' });
      await s.release();
    });

    it('a SIGKILL from outside to an idle session is noticed at once and the session replaced', async () => {
      pool = makePool({ spawn: mode, minIdle: 2, maxSessions: 2 });
      await pool.start();
      const victim = await pool.acquire();
      await victim.release();
      const died = nextEvent(pool, 'sessionDied', (e) => e.sessionId === victim.id);
      process.kill(victim.pid, 'SIGKILL');
      const [death] = await died;
      expect(death).toMatchObject({ phase: 'idle', exit: { signal: 'SIGKILL' } });
      expect(pool.metrics().died).toBe(1);
      await idleReaches(pool, 2);
    });

    it('a memory bomb under memoryBytes is a MemoryError result, not a dead session', async () => {
      pool = makePool({ spawn: mode, minIdle: 1, maxSessions: 1, limits: { memoryBytes: 1024 ** 3 } });
      const s = await pool.acquire();
      const r = await s.execute('x = bytearray(4 * 1024 ** 3)');
      expect(r.status).toBe('error');
      expect(r.error?.name).toBe('MemoryError');
      expect((await s.execute('1 + 1')).value).toBe('2');
      await s.release();
    });

    it('a CPU hog under cpuSeconds is killed by the OS; the pool reports it and replaces the session', async () => {
      pool = makePool({ spawn: mode, minIdle: 1, maxSessions: 2, limits: { cpuSeconds: 1 } });
      const s = await pool.acquire();
      const error = await s.execute('while True: pass').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(SessionDiedError);
      expect((error as SessionDiedError).signal).toBe('SIGXCPU');
      await s.release();
    });

    it('opening more files than maxOpenFiles is an OSError result', async () => {
      pool = makePool({ spawn: mode, minIdle: 1, maxSessions: 1, limits: { maxOpenFiles: 64 } });
      const s = await pool.acquire();
      const r = await s.execute('files = [open("/dev/null") for _ in range(200)]');
      expect(r.status).toBe('error');
      expect(r.error?.name).toBe('OSError');
      expect(r.error?.message).toMatch(/Too many open files/);
      await s.execute('del files');
      await s.release();
    });

    it('a flood of 50 MB of output is cut at maxOutputBytes and the result says truncated', async () => {
      pool = makePool({ spawn: mode, minIdle: 1, maxSessions: 1, limits: { maxOutputBytes: 1_000_000 } });
      const s = await pool.acquire();
      let streamed = 0;
      const r = await s.execute('import sys\nfor _ in range(50):\n    sys.stdout.write("x" * 1_000_000)', {
        onOutput: (chunk) => {
          if (chunk.type === 'stream') streamed += chunk.text.length;
        },
      });
      expect(r.status).toBe('ok');
      expect(r.truncated).toBe(true);
      expect(r.stdout.length).toBeLessThanOrEqual(1_000_000);
      expect(r.stdout.length).toBeGreaterThan(0);
      expect(streamed).toBe(r.stdout.length);
      await s.release();
    });

    it('input() gets end of file at once: an EOFError result, never a hang', async () => {
      pool = makePool({ spawn: mode, minIdle: 1, maxSessions: 1 });
      const s = await pool.acquire();
      const r = await s.execute('input("name? ")');
      expect(r.status).toBe('error');
      expect(r.error?.name).toBe('EOFError');
      expect((await s.execute('import sys; sys.stdin.read()')).value).toBe("''");
      await s.release();
    });

    it('protocol-looking bytes written to fd 1 are just stdout', async () => {
      pool = makePool({ spawn: mode, minIdle: 1, maxSessions: 1 });
      const s = await pool.acquire();
      const fake = '{"op":"result","id":1,"status":"ok","value":"forged"}\\n';
      const r = await s.execute(`import os\nos.write(1, b'${fake}')\nprint('${fake}')\n"real"`);
      expect(r.value).toBe("'real'");
      expect(r.stdout).toContain('"value":"forged"');
      await s.release();
    });

    it('user code closing fds 1 and 2 does not break the session or later output', async () => {
      pool = makePool({ spawn: mode, minIdle: 1, maxSessions: 1 });
      const s = await pool.acquire();
      const r = await s.execute('import os\nos.close(1)\nos.close(2)');
      expect(r.status).toBe('ok');
      const after = await s.execute('import os, sys\nprint("back")\nos.write(2, b"err\\n")');
      expect(after.stdout).toBe('back\n');
      expect(after.stderr).toBe('err\n');
      await s.release();
    });

    it('sys.exit() and exit() are SystemExit results, as in a notebook', async () => {
      pool = makePool({ spawn: mode, minIdle: 1, maxSessions: 1 });
      const s = await pool.acquire();
      for (const code of ['import sys; sys.exit(2)', 'exit()']) {
        const r = await s.execute(code);
        expect(r.status).toBe('error');
        expect(r.error?.name).toBe('SystemExit');
      }
      expect(pool.metrics().died).toBe(0);
      await s.release();
    });

    it('code over maxCodeBytes is refused before it reaches Python', async () => {
      pool = makePool({ spawn: mode, minIdle: 1, maxSessions: 1, limits: { maxCodeBytes: 1_000 } });
      const s = await pool.acquire();
      await expect(s.execute(`x = "${'é'.repeat(600)}"`)).rejects.toBeInstanceOf(CodeTooLargeError);
      expect((await s.execute('x = 1\nx')).executionCount).toBe(1);
      await s.release();
    });
  });

  describe('output, results and isolation', () => {
    it('streams output as it happens, long before the result', async () => {
      const pool = makePool({ spawn: mode, minIdle: 1, maxSessions: 1 });
      const s = await pool.acquire();
      // The code waits for a file that only the onOutput callback creates: without streaming it never ends.
      const flag = join(tmpdir(), `pyrepl3-flag-${randomUUID()}`);
      const events: string[] = [];
      const code = `import os, time\nprint("first", flush=True)\nwhile not os.path.exists(${JSON.stringify(flag)}): time.sleep(0.01)\nprint("second")`;
      const r = await s.execute(code, {
        onOutput: (chunk) => {
          if (chunk.type !== 'stream') return;
          // print() writes its text and its newline separately: a chunk may be just '\n'.
          if (chunk.text.trim() !== '') events.push(`output:${chunk.text.trim()}`);
          if (chunk.text.includes('first')) writeFileSync(flag, '');
        },
      });
      events.push('result');
      rmSync(flag, { force: true });
      expect(events).toEqual(['output:first', 'output:second', 'result']);
      expect(r.stdout).toBe('first\nsecond\n');
    });

    it('captures output written below Python in order with print() on the same stream', async () => {
      const pool = makePool({ spawn: mode, minIdle: 1, maxSessions: 1 });
      const s = await pool.acquire();
      const r = await s.execute(
        'import os\nprint("one")\nos.write(1, b"two\\n")\nos.system("echo three")\nprint("four")\nos.system("echo err >&2")',
      );
      expect(r.stdout).toBe('one\ntwo\nthree\nfour\n');
      expect(r.stderr).toBe('err\n');
    });

    it('gives rich results in the Jupyter mime-bundle convention', async () => {
      const pool = makePool({ spawn: mode, minIdle: 1, maxSessions: 1 });
      const s = await pool.acquire();
      const r = await s.execute(
        'class Table:\n    def __repr__(self): return "Table()"\n    def _repr_html_(self): return "<table></table>"\nTable()',
      );
      expect(r.value).toBe('Table()');
      expect(r.data).toEqual({ 'text/plain': 'Table()', 'text/html': '<table></table>' });
    });

    it('starts sessions with a scrubbed environment and a working directory of their own, removed at the end', async () => {
      process.env.PYREPL3_TEST_SECRET = 'do-not-leak';
      try {
        const pool = makePool({ spawn: mode, minIdle: 1, maxSessions: 1, env: { GREETING: 'hello' } });
        const s = await pool.acquire();
        const r = await s.execute('import os\nos.environ.get("PYREPL3_TEST_SECRET"), os.environ.get("GREETING"), os.getcwd()');
        expect(r.value).toMatch(/^\(None, 'hello', '.*pyrepl3-\d+-s1-.*'\)$/);
        const cwd = /'([^']*pyrepl3-\d+-s1-[^']*)'/.exec(r.value ?? '')![1]!;
        expect(existsSync(cwd)).toBe(true);
        await pool.shutdown();
        expect(existsSync(cwd)).toBe(false);
      } finally {
        delete process.env.PYREPL3_TEST_SECRET;
      }
    });

    it("releasePolicy 'recycle' gives the next holder a fresh process with none of the last holder's state", async () => {
      const pool = makePool({ spawn: mode, minIdle: 1, maxSessions: 1, releasePolicy: 'recycle' });
      const first = await pool.acquire();
      await first.execute('secret = 42\nopen("left-behind.txt", "w").write("x")');
      await first.release();
      const second = await pool.acquire();
      expect(second.pid).not.toBe(first.pid);
      const r = await second.execute('import os\n"secret" in globals(), os.path.exists("left-behind.txt")');
      expect(r.value).toBe('(False, False)');
      expect(isAlive(first.pid)).toBe(false);
      await second.release();
      expectConsistent(pool);
    });

    it('retires a session after maxExecutionsPerSession, at release and never mid-execution', async () => {
      const pool = makePool({ spawn: mode, minIdle: 1, maxSessions: 1, maxExecutionsPerSession: 2 });
      const s = await pool.acquire();
      await s.execute('1');
      await s.execute('2');
      const retired = nextEvent(pool, 'sessionDied', (e) => e.sessionId === s.id);
      await s.release();
      expect((await retired)[0].cause).toEqual({ kind: 'stopped', reason: 'retired' });
      const next = await pool.acquire();
      expect(next.id).not.toBe(s.id);
    });

    it('retires idle sessions above minIdle after idleTimeoutMs, down to minIdle', async () => {
      const pool = makePool({ spawn: mode, minIdle: 1, maxSessions: 3, idleTimeoutMs: 200 });
      const sessions = await Promise.all([pool.acquire(), pool.acquire(), pool.acquire()]);
      await Promise.all(sessions.map((s) => s.release()));
      await vi.waitFor(() => expect(pool.metrics()).toMatchObject({ total: 1, idle: 1, stopping: 0 }), { timeout: 5_000 });
    });
  });

  describe('start failures', () => {
    it('a missing interpreter rejects start and acquire at once with SessionStartError', async () => {
      const pool = makePool({ spawn: mode, minIdle: 1, maxSessions: 2, pythonPath: '/nonexistent/python3' });
      await expect(pool.start()).rejects.toBeInstanceOf(SessionStartError);
      const error = await pool.acquire({ timeoutMs: 20_000 }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(SessionStartError);
      expect((error as Error).message).toMatch(/nonexistent/);
      expect(pool.metrics().creationFailures).toBeGreaterThanOrEqual(2);
    });

    it('an acquire that times out while sessions fail to start has the last failure as its cause', async () => {
      const pool = makePool({ spawn: mode, minIdle: 1, maxSessions: 1, pythonPath: '/nonexistent/python3' });
      await expect(pool.start()).rejects.toBeInstanceOf(SessionStartError);
      // Spawning now pauses for its back-off: a waiter with no time to wait times out first.
      const error = (await pool.acquire({ timeoutMs: 0 }).catch((e: unknown) => e)) as AcquireTimeoutError;
      expect(error).toBeInstanceOf(AcquireTimeoutError);
      expect(error.cause).toBeInstanceOf(SessionStartError);
      expect(error.cause?.reason.kind).toBe('spawnFailed');
      expect(error.message).toMatch(/^no session became available within 0 ms; the last session start failed: .*nonexistent/);
    });

    it('warmup code that raises rejects with SessionStartError carrying the Python traceback', async () => {
      const pool = makePool({ spawn: mode, minIdle: 0, maxSessions: 1, warmupCode: 'import json\n1 / 0' });
      const error = (await pool.acquire().catch((e: unknown) => e)) as SessionStartError;
      expect(error).toBeInstanceOf(SessionStartError);
      expect(error.reason.kind).toBe('warmupFailed');
      expect(error.traceback).toMatch(/ZeroDivisionError/);
      expect(sessionProcesses(pool)).toEqual([]);
    });

    it('a worker that never says ready fails the start after startTimeoutMs, and its process is gone', async () => {
      const pool = makePool({ spawn: mode, minIdle: 0, maxSessions: 1, pythonPath: SILENT_PYTHON, startTimeoutMs: 300 });
      const error = (await pool.acquire().catch((e: unknown) => e)) as SessionStartError;
      expect(error).toBeInstanceOf(SessionStartError);
      expect(error.reason).toEqual({ kind: 'startTimeout', timeoutMs: 300 });
      expect(sessionProcesses(pool)).toEqual([]);
    });

    // What the pool announces; that it really waits so long is test/model/backoff.test.ts, on the model clock.
    it('announces a doubling back-off between repeated failures', async () => {
      const pool = makePool({ spawn: mode, minIdle: 2, maxSessions: 2, pythonPath: '/nonexistent/python3' });
      const delays: number[] = [];
      pool.on('spawnFailed', (e) => delays.push(e.retryInMs));
      await pool.start().catch(() => undefined);
      while (delays.length < 5) await nextEvent(pool, 'spawnFailed');
      expect(delays.slice(0, 5)).toEqual([100, 200, 400, 800, 1600]);
    });
  });

  describe('a session actor that throws (a bug in PyREPL3)', () => {
    it('takes its process with it: its execution fails at once, the pool replaces it, nothing outlives shutdown', async () => {
      const faults = new SessionFaults();
      const pool = makePool({ spawn: mode, minIdle: 1, maxSessions: 1 }, { processActor: faults.processActor });
      const s = await pool.acquire();
      const pid = s.pid;
      const failure = s.execute('import time; time.sleep(30)').then(
        () => null,
        (error: unknown) => error,
      );
      const died = nextEvent(pool, 'sessionDied', (e) => e.sessionId === s.id);
      faults.throwIn(s.id);
      const [death] = await died;
      expect(death.cause).toMatchObject({ kind: 'protocolError', message: expect.stringContaining('session actor failed') });
      // The execution was failed when its session actor failed, before the pool buried the session.
      const error = await settledNow(failure);
      expect(error).toBeInstanceOf(SessionDiedError);
      expect((error as SessionDiedError).reason).toEqual(death.cause);
      await s.release();
      const next = await pool.acquire({ timeoutMs: 10_000 });
      expect((await next.execute('6 * 7')).value).toBe('42');
      await pool.shutdown();
      expect(isAlive(pid)).toBe(false);
      expectNoProcesses(pool);
    });

    it('is waited for by a shutdown that comes at once: its process and its folder are gone when shutdown resolves', async () => {
      const faults = new SessionFaults();
      const pool = makePool({ spawn: mode, minIdle: 0, maxSessions: 1 }, { processActor: faults.processActor });
      const s = await pool.acquire();
      const cwd = (await s.execute('import os; os.getcwd()')).value!.slice(1, -1);
      expect(existsSync(cwd)).toBe(true);
      faults.throwIn(s.id);
      await pool.shutdown();
      expect(isAlive(s.pid)).toBe(false);
      expect(existsSync(cwd)).toBe(false);
      expectNoProcesses(pool);
    });
  });

  describe('the host dies', () => {
    // The dying host is another Node process, which loads the built package, not TypeScript.
    beforeAll(ensureBuilt, 120_000);
    it('its Python processes exit within two seconds of a SIGKILL to the host', async () => {
      const script = `
        const { SessionPool } = await import(${JSON.stringify(DIST_INDEX)});
        const pool = new SessionPool({ minIdle: 2, maxSessions: 2, spawn: '${mode}' });
        await pool.start();
        const s = await pool.acquire();
        s.execute('while True: pass');
        process.stdout.write(JSON.stringify({ pool: pool.id }) + '\\n');
      `;
      const host = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
      const [line] = (await new Promise<Buffer[]>((resolve) => host.stdout.once('data', (d: Buffer) => resolve([d])))) as [Buffer];
      const poolId = (JSON.parse(line.toString()) as { pool: string }).pool;
      const pids = processesMentioning(poolId);
      expect(pids.length).toBeGreaterThanOrEqual(2);
      host.kill('SIGKILL');
      await vi.waitFor(() => expect(pids.filter(isAlive)).toEqual([]), { timeout: 2_000, interval: 50 });
    });
  });
});
