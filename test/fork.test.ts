import { describe, expect, it } from 'vitest';
import { nextEvent } from './helpers/events.js';
import { isAlive } from './helpers/os.js';
import { makePool, sessionProcesses } from './helpers/pool.js';

/** Behaviour particular to spawn 'fork'; the core and hardening suites also run in this mode. */
describe("spawn 'fork'", () => {
  it('forks sessions from the warmed template: they share its warmup and have their own pids', async () => {
    const pool = makePool({ spawn: 'fork', minIdle: 2, maxSessions: 2, warmupCode: 'import json\nFROM_TEMPLATE = 1' });
    const template = nextEvent(pool, 'templateReady');
    await pool.start();
    const [{ pid: templatePid }] = await template;
    const [a, b] = await Promise.all([pool.acquire(), pool.acquire()]);
    const probe = 'import os, random\nFROM_TEMPLATE, os.getppid(), random.random()';
    const [ra, rb] = await Promise.all([a!.execute(probe), b!.execute(probe)]);
    const [parentA, randomA] = /\(1, (\d+), ([\d.]+)\)/.exec(ra.value ?? '')!.slice(1);
    const [parentB, randomB] = /\(1, (\d+), ([\d.]+)\)/.exec(rb.value ?? '')!.slice(1);
    expect([Number(parentA), Number(parentB)]).toEqual([templatePid, templatePid]);
    expect(a!.pid).not.toBe(b!.pid);
    // Each child reseeds: siblings never share a random stream.
    expect(randomA).not.toBe(randomB);
    expect(pool.snapshot().template).toEqual({ status: 'ready', pid: templatePid });
  });

  it('restarts a template that dies, starting sessions with exec meanwhile', async () => {
    // minIdle 0: sessions start only on demand, so each acquire below starts exactly one.
    const pool = makePool({ spawn: 'fork', minIdle: 0, maxSessions: 3 });
    const firstTemplate = nextEvent(pool, 'templateReady');
    await pool.start();
    const [{ pid }] = await firstTemplate;
    const survivor = await pool.acquire();
    const down = nextEvent(pool, 'templateDown');
    process.kill(pid, 'SIGKILL');
    const [{ retryInMs }] = await down;
    expect(retryInMs).toBe(100);
    // A session forked before the template died lives on.
    expect((await survivor.execute('1 + 1')).value).toBe('2');
    const back = nextEvent(pool, 'templateReady');
    const meanwhile = await pool.acquire();
    expect((await meanwhile.execute(`import os\nos.getppid() == ${process.pid}`)).value).toBe('True');
    const [{ pid: newTemplate }] = await back;
    expect(newTemplate).not.toBe(pid);
    const forked = await pool.acquire();
    expect((await forked.execute(`import os\nos.getppid() == ${newTemplate}`)).value).toBe('True');
    // The orphan of the dead template is still accounted for, and stopped at shutdown.
    await pool.shutdown();
    expect(isAlive(survivor.pid)).toBe(false);
  });

  it('falls back to exec, and says so, when warmupCode starts threads', async () => {
    const pool = makePool({
      spawn: 'fork',
      minIdle: 1,
      maxSessions: 1,
      warmupCode: 'import threading, time\nthreading.Thread(target=time.sleep, args=(60,), daemon=True).start()',
    });
    const unsafe = nextEvent(pool, 'templateUnsafe');
    await pool.start();
    expect((await unsafe)[0].threads).toBeGreaterThan(1);
    const s = await pool.acquire();
    expect((await s.execute(`import os\nos.getppid() == ${process.pid}`)).value).toBe('True');
    expect(pool.snapshot().template?.status).toBe('unsafe');
  });

  it("with releasePolicy 'recycle', every holder gets a fresh forked process", async () => {
    const pool = makePool({ spawn: 'fork', minIdle: 1, maxSessions: 2, releasePolicy: 'recycle' });
    await pool.start();
    const pids = new Set<number>();
    for (let i = 0; i < 10; i++) {
      const s = await pool.acquire();
      const r = await s.execute('"seen" in globals()');
      expect(r.value).toBe('False');
      await s.execute('seen = True');
      pids.add(s.pid);
      await s.release();
    }
    expect(pids.size).toBe(10);
    expect([...pids].filter(isAlive).length).toBeLessThanOrEqual(2);
    expect(sessionProcesses(pool).length).toBeLessThanOrEqual(2);
  });
});
