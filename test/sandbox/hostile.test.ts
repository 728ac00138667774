import { createServer, type Server } from 'node:net';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pino from 'pino';
import { SessionDiedError, SessionPool, type Session } from '../../src/index.js';
import { SANDBOX_WORKER_DIR, WORKER_DIR } from '../../src/python/worker-path.js';
import { cgroupsNamed, isAlive, processesMentioning, processName } from '../helpers/os.js';
import { expectNoProcesses, makePool, SPAWN_MODES } from '../helpers/pool.js';

const MiB = 1024 * 1024;

/** Runs `code` and returns its value; a Python exception fails the test with its traceback. */
async function value(session: Session, code: string): Promise<string | null> {
  const result = await session.execute(code);
  expect(result.error?.traceback ?? null).toBeNull();
  return result.value;
}

/** A libc call inside the session, as `(return value, errno)`; errno is cleared first, so a success shows 0. */
function libcCall(call: string): string {
  return `import ctypes, os\nlibc = ctypes.CDLL(None, use_errno=True)\nctypes.set_errno(0)\n(${call}, ctypes.get_errno())`;
}

describe.each(SPAWN_MODES)('a sandboxed session, spawn %s', (mode) => {
  let pool: SessionPool;
  let session: Session;
  let secretDir: string;
  let listener: Server;
  let port: number;

  beforeAll(async () => {
    secretDir = mkdtempSync(join(tmpdir(), 'pyrepl3-secret-'));
    writeFileSync(join(secretDir, 'tokens.json'), '[{"token":"admin-secret"}]');
    listener = createServer((socket) => socket.end('host service\n')).listen(0, '127.0.0.1');
    await new Promise((resolve) => listener.once('listening', resolve));
    port = (listener.address() as { port: number }).port;
    // One pool for the whole block: makePool's pools end with each test.
    pool = new SessionPool({
      spawn: mode,
      sandbox: true,
      minIdle: 1,
      maxSessions: 3,
      limits: { memoryBytes: 256 * MiB, maxProcesses: 32, diskBytes: 32 * MiB },
      logger: pino({ level: 'silent' }),
    });
    await pool.start();
    session = await pool.acquire();
  });

  afterAll(async () => {
    await pool.shutdown();
    listener.close();
    expectNoProcesses(pool);
    expect(cgroupsNamed(pool.id)).toEqual([]);
  });

  it('is forked from the template in fork mode (exec is only its fallback)', () => {
    expect(processName(session.pid!)).toBe(mode === 'fork' ? 'pyrepl3-session' : 'python3');
  });

  it('runs as an unprivileged uid with no capabilities, no_new_privs and a seccomp filter', async () => {
    expect(Number(await value(session, 'import os\nos.getuid()'))).toBeGreaterThan(0);
    const status = await value(session, "open('/proc/self/status').read()");
    for (const line of [
      'CapEff:\\t0000000000000000',
      'CapPrm:\\t0000000000000000',
      'CapBnd:\\t0000000000000000',
      'NoNewPrivs:\\t1',
      'Seccomp:\\t2',
    ]) {
      expect(status).toContain(line);
    }
  });

  it('sees only its own processes: the host and the other sessions are not there to signal', async () => {
    const other = await pool.acquire();
    try {
      expect(await value(session, "import os\nsorted(int(p) for p in os.listdir('/proc') if p.isdigit())")).toBe('[1, 2]');
      expect(await value(session, 'os.getppid()')).toBe('1');
      for (const pid of [process.pid, other.pid!]) {
        const result = await session.execute(`import os, signal\nos.kill(${pid}, signal.SIGKILL)`);
        expect(result.error?.name).toBe('ProcessLookupError');
        const memory = await session.execute(`open('/proc/${pid}/mem', 'rb')`);
        expect(memory.error?.name).toBe('FileNotFoundError');
      }
      // The namespace's init ignores signals from inside: the host in library mode is out of reach.
      await session.execute('import os, signal\nos.kill(os.getppid(), signal.SIGKILL)');
      expect((await other.execute('1 + 1')).value).toBe('2');
      expect((await session.execute('1 + 1')).value).toBe('2');
    } finally {
      await other.release();
    }
  });

  // Each call would succeed, or fail with another errno, without the filter (as it does unsandboxed).
  it('is denied ptrace, process_vm_readv, pidfd_open, pidfd_getfd, unshare, setns, mount, keyctl and perf_event_open', async () => {
    const DENIED = '(-1, 1)'; // EPERM
    for (const call of [
      'libc.ptrace(0, 0, 0, 0)',
      'libc.syscall(310, os.getpid(), 0, 0, 0, 0, 0)',
      'libc.syscall(434, os.getpid(), 0)',
      'libc.syscall(438, 99, 3, 0)',
      'libc.unshare(0)',
      'libc.setns(3, 0)',
      'libc.mount(None, None, None, 0, None)',
      'libc.syscall(250, 0, -3, 0, 0, 0)',
      'libc.syscall(298, 0, 0, -1, -1, 0)',
    ]) {
      expect([call, await value(session, libcCall(call))]).toEqual([call, DENIED]);
    }
  });

  it("sees none of the host's files, not even the project's, and cannot change the worker's code", async () => {
    for (const hostPath of [secretDir, WORKER_DIR, process.cwd(), '/root/.bashrc', '/etc/shadow', '/home']) {
      expect([hostPath, await value(session, `import os\nos.path.exists(${JSON.stringify(hostPath)})`)]).toEqual([hostPath, 'False']);
    }
    const worker = JSON.stringify(join(SANDBOX_WORKER_DIR, 'pyrepl3_worker'));
    const write = await session.execute(`open(os.path.join(${worker}, '__init__.py'), 'a').write('#')`);
    expect(write.error?.name).toBe('PermissionError');
    expect(await value(session, `bool(os.statvfs(${worker}).f_flag & os.ST_RDONLY)`)).toBe('True');
  });

  it('has a private working folder, /tmp and /dev/shm, capped by diskBytes together', async () => {
    expect(await value(session, 'os.getcwd()')).toBe("'/session/work'");
    const fill = await session.execute(
      "for place in ('/session/work/a', '/tmp/b', '/dev/shm/c'):\n    open(place, 'wb').write(b'x' * (12 * 1024 * 1024))",
    );
    expect(fill.error?.message).toContain('No space left on device');
    expect(existsSync('/dev/shm/c') || existsSync('/tmp/b')).toBe(false);
    await value(session, "import glob\nfor f in glob.glob('/session/*/*'): os.remove(f)");
  });

  it('has no network but a loopback of its own', async () => {
    const result = await session.execute(`import socket\nsocket.create_connection(('127.0.0.1', ${port}), timeout=2)`);
    expect(result.error?.name).toBe('ConnectionRefusedError');
    expect(
      await value(
        session,
        "s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(); c = socket.create_connection(s.getsockname()); 'ok'",
      ),
    ).toBe("'ok'");
  });

  it("is the OOM killer's first choice, cannot lower its score, and cannot reach the host's", async () => {
    expect(await value(session, "int(open('/proc/self/oom_score_adj').read())")).toBe('1000');
    const lower = await session.execute("open('/proc/self/oom_score_adj', 'w').write('-1000')");
    expect(lower.error?.name).toBe('PermissionError');
    const steer = await session.execute(`open('/proc/${process.pid}/oom_score_adj', 'w').write('1000')`);
    expect(steer.error?.name).toBe('FileNotFoundError');
  });

  it('still does what sessions do: state, streaming, subprocess, threads and sqlite', async () => {
    const chunks: string[] = [];
    await session.execute('kept = 41', { onOutput: (chunk) => chunk.type === 'stream' && chunks.push(chunk.text) });
    const result = await session.execute(
      'import subprocess, sys, threading, sqlite3\n' +
        "print(subprocess.run([sys.executable, '-c', 'print(6 * 7)'], capture_output=True, text=True).stdout.strip())\n" +
        "t = threading.Thread(target=lambda: print('thread')); t.start(); t.join()\n" +
        "db = sqlite3.connect('/tmp/x.db'); db.execute('create table t(x)'); db.execute('insert into t values (1)')\n" +
        'kept + db.execute("select x from t").fetchone()[0]',
      { onOutput: (chunk) => chunk.type === 'stream' && chunks.push(chunk.text) },
    );
    expect(result.value).toBe('42');
    expect(chunks.join('')).toBe('42\nthread\n');
  });

  it('is interrupted, timed out and shows rich results as an unsandboxed session does', async () => {
    const running = session.execute("import time\nprint('go', flush=True)\ntime.sleep(30)", {
      onOutput: (chunk) => chunk.type === 'stream' && session.interrupt(),
    });
    expect((await running).status).toBe('interrupted');
    expect((await session.execute('import time\ntime.sleep(30)', { timeoutMs: 200 })).status).toBe('timeout');
    const html = await session.execute("class Rich:\n    def _repr_html_(self): return '<b>rich</b>'\nRich()");
    expect(html.data?.['text/html']).toBe('<b>rich</b>');
    expect(await value(session, 'kept')).toBe('41');
  });

  it("puts its processes in a CPU cgroup of their own, so that a session's many processes share one session's CPU", async () => {
    const other = await pool.acquire();
    try {
      const marker = `${(Math.random() * 1e6) | 0}.25`;
      await session.execute(`import subprocess\nbusy = [subprocess.Popen(['sleep', '${marker}']) for _ in range(3)]`);
      const children = await waitFor(() => processesMentioning(`sleep ${marker}`));
      const cpuGroup = (pid: number): string => /^\d+:cpu:(.*)$/m.exec(readFileSync(`/proc/${pid}/cgroup`, 'utf8'))![1]!;
      const own = cpuGroup(session.pid!);
      expect(own).toMatch(new RegExp(`/pyrepl3/${pool.id}/s-[0-9a-f-]+$`));
      expect(children.map(cpuGroup)).toEqual(children.map(() => own));
      expect(cpuGroup(other.pid!)).not.toBe(own);
      await session.execute('for child in busy: child.kill()');
    } finally {
      await other.release();
    }
  });
});

describe('a sandboxed session with network: true', () => {
  it("shares the host's network", async () => {
    const listener = createServer((socket) => socket.end('host service\n')).listen(0, '127.0.0.1');
    await new Promise((resolve) => listener.once('listening', resolve));
    const { port } = listener.address() as { port: number };
    const pool = makePool({ sandbox: { network: true }, minIdle: 1 });
    const session = await pool.acquire();
    const reply = await session.execute(`import socket\nsocket.create_connection(('127.0.0.1', ${port}), timeout=5).recv(100)`);
    listener.close();
    expect(reply.value).toBe("b'host service\\n'");
  });
});

describe.each(SPAWN_MODES)('whole-session limits and cleanup, spawn %s', (mode) => {
  it('memoryBytes holds for all processes together, and the death says oom', async () => {
    const pool = makePool({ spawn: mode, sandbox: true, minIdle: 1, maxSessions: 2, limits: { memoryBytes: 200 * MiB } });
    const session = await pool.acquire();
    // Each child stays under the limit; together they do not.
    const run = session.execute(
      "import subprocess, sys\nkids = [subprocess.Popen([sys.executable, '-c', 'b = b\\'x\\' * (80 * 1024 * 1024); import time; time.sleep(60)']) for _ in range(4)]\n" +
        '[k.wait() for k in kids]',
    );
    const error = await run.then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(SessionDiedError);
    expect((error as SessionDiedError).reason).toEqual({ kind: 'oom' });
    expect((await (await pool.acquire()).execute('1 + 1')).value).toBe('2');
  });

  it('cpuSeconds holds for all processes together, and the death says cpuLimit', async () => {
    const pool = makePool({ spawn: mode, sandbox: true, minIdle: 1, maxSessions: 2, limits: { cpuSeconds: 1 } });
    const session = await pool.acquire();
    // Each child stays under RLIMIT_CPU of one second; together they go over.
    const burn = 'import time\nend = time.process_time() + 0.6\nwhile time.process_time() < end: pass\ntime.sleep(60)';
    const run = session.execute(
      `import subprocess, sys\nkids = [subprocess.Popen([sys.executable, '-c', ${JSON.stringify(burn)}]) for _ in range(3)]\n[k.wait() for k in kids]`,
    );
    const error = await run.then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(SessionDiedError);
    expect((error as SessionDiedError).reason).toEqual({ kind: 'cpuLimit', cpuSeconds: 1 });
  });

  it('maxProcesses stops a fork bomb inside the session', async () => {
    const pool = makePool({ spawn: mode, sandbox: true, minIdle: 2, maxSessions: 2, limits: { maxProcesses: 20 } });
    const [bomber, bystander] = [await pool.acquire(), await pool.acquire()];
    const result = await bomber.execute(
      'import os\nkids = []\nwhile True:\n    pid = os.fork()\n    if pid == 0:\n        import time; time.sleep(60)\n    kids.append(pid)',
    );
    expect(result.error?.name).toBe('BlockingIOError');
    expect((await bystander.execute('1 + 1')).value).toBe('2');
    await bomber.destroy();
  });

  it("ends every process it started with it, setsid'd daemons included, and leaves no process or cgroup after shutdown", async () => {
    const pool = makePool({ spawn: mode, sandbox: true, minIdle: 1, maxSessions: 1 });
    const session = await pool.acquire();
    const marker = `${(Math.random() * 1e6) | 0}.5`;
    // A session of its own (setsid), as a daemon would make.
    await session.execute(`import subprocess\nsubprocess.Popen(['sleep', '${marker}'], start_new_session=True)`);
    const [daemon] = await waitFor(() => processesMentioning(`sleep ${marker}`));
    expect(isAlive(daemon!)).toBe(true);
    expect(cgroupsNamed(pool.id).length).toBeGreaterThan(0);
    await session.destroy();
    await pool.shutdown();
    expect(isAlive(daemon!)).toBe(false);
    expectNoProcesses(pool);
    expect(cgroupsNamed(pool.id)).toEqual([]);
  });
});

describe.each(SPAWN_MODES)('a sandbox killed while it starts, spawn %s', (mode) => {
  it('leaves no process once the pool says it is gone, whatever step it had reached', { timeout: 60_000 }, async () => {
    // The kill point sweeps the start: before the sandbox is checked (-1), then 0 to 60 ms after the
    // spawn (a sandboxed exec start takes 40-90 ms).
    for (let delayMs = -1; delayMs <= 60; delayMs += delayMs < 0 ? 1 : 4) {
      const pool = makePool({ spawn: mode, sandbox: true, minIdle: 2, maxSessions: 2 });
      const spawned = new Promise((resolve) => pool.once('sessionSpawned', resolve));
      const started = pool.start().catch(() => undefined);
      if (delayMs >= 0) {
        await spawned;
        await new Promise((resolve) => setTimeout(resolve, delayMs));
      }
      await pool.shutdown();
      await started;
      expect([delayMs, processesMentioning(pool.id)]).toEqual([delayMs, []]);
    }
  });
});

/** Polls `probe` until it finds something: a process another process starts appears when it does. */
async function waitFor(probe: () => number[]): Promise<number[]> {
  for (;;) {
    const found = probe();
    if (found.length > 0) return found;
    await new Promise((resolve) => setImmediate(resolve));
  }
}
