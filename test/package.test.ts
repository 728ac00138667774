import { describe, expect, it } from 'vitest';
import { SessionPool, PoolClosedError } from 'pyrepl3';
import { ApiError, Client } from 'pyrepl3/client';
import { isAlive } from './helpers/os.js';

describe('the package, as a user imports it', () => {
  it("is importable by its own name through the exports map, as `import { SessionPool } from 'pyrepl3'`", () => {
    expect(typeof SessionPool).toBe('function');
    expect(new PoolClosedError().name).toBe('PoolClosedError');
  });

  it("exports the typed client as `import { Client } from 'pyrepl3/client'`", () => {
    expect(typeof Client).toBe('function');
    expect(new ApiError('unauthorized', 'no', 401)).toMatchObject({ name: 'ApiError', code: 'unauthorized', status: 401 });
  });

  it('works with `await using`: the lease goes back, then the pool shuts down with its processes', async () => {
    let pid = 0;
    {
      await using pool = new SessionPool({ minIdle: 1, maxSessions: 1, healthCheckIntervalMs: 0 });
      {
        await using session = await pool.acquire();
        pid = session.pid;
        expect((await session.execute('1 + 1')).value).toBe('2');
      }
      expect(pool.metrics()).toMatchObject({ idle: 1, busy: 0 });
    }
    expect(isAlive(pid)).toBe(false);
  });
});
