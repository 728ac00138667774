import { describe, expect, it } from 'vitest';
import { call, serve } from './helpers.js';

const FLOOD = 'flood-token-0123456789';
const CALM = 'calm-token-0123456789';
const DEFAULTS = 'defaults-token-0123456789';

const tokens = [
  { token: FLOOD, tenant: 'flood', maxConcurrent: 6 },
  { token: CALM, tenant: 'calm' },
  { token: DEFAULTS, tenant: 'defaults' },
];

describe('fair tenants', () => {
  it('a tenant flooding one-shots does not delay another tenant: it is served at the next free place', async () => {
    const server = await serve({ tokens, poolOptions: { minIdle: 1, maxSessions: 2 } });
    const { url, pool } = server;
    // The pid of every session the pool grants, in order.
    const granted: (number | null)[] = [];
    pool.on('granted', ({ sessionId }) => granted.push(pool.snapshot().sessions.find((s) => s.id === sessionId)?.pid ?? null));
    let flooding = true;
    const flood = async (): Promise<number[]> => {
      const statuses: number[] = [];
      while (flooding) statuses.push((await call(url, 'POST', '/v1/execute', FLOOD, { code: 'import time\ntime.sleep(1.5)' })).status);
      return statuses;
    };
    const flooders = Array.from({ length: 6 }, () => flood());
    // Wait until the flood fills both places and queues behind them.
    while (server.registry.executing < 2) await new Promise((resolve) => setImmediate(resolve));
    const ahead: number[] = [];
    for (let i = 0; i < 3; i++) {
      const before = granted.length;
      const run = await call(url, 'POST', '/v1/execute', CALM, { code: 'import os\nos.getpid()' });
      // Grants to the flood before this one: at most the two places it had taken before the calm
      // tenant asked, never its backlog of four more.
      ahead.push(granted.slice(before).indexOf(Number(run.body.value)));
    }
    flooding = false;
    const statuses = (await Promise.all(flooders)).flat();
    expect(
      ahead.every((n) => n >= 0 && n <= 2),
      `flood grants ahead of the calm tenant: ${ahead}`,
    ).toBe(true);
    expect(new Set(statuses)).toEqual(new Set([200]));
  }, 60_000);

  it('429 with Retry-After past maxConcurrent, one-shots included; the quota frees as executions end', async () => {
    const { url } = await serve({ tokens, tenantDefaults: { maxConcurrent: 2 } });
    const id: string = (await call(url, 'POST', '/v1/sessions', DEFAULTS)).body.id;
    const sleeping = [
      call(url, 'POST', '/v1/execute', DEFAULTS, { code: 'import time\ntime.sleep(0.5)' }),
      call(url, 'POST', `/v1/sessions/${id}/execute`, DEFAULTS, { code: 'import time\ntime.sleep(0.5)' }),
    ];
    while ((await call(url, 'GET', `/v1/sessions/${id}`, DEFAULTS)).body.executing !== true)
      await new Promise((resolve) => setImmediate(resolve));
    const over = await call(url, 'POST', '/v1/execute', DEFAULTS, { code: '1' });
    expect(over.status).toBe(429);
    expect(over.body.error.code).toBe('quota_exceeded');
    expect(over.headers.get('retry-after')).toBe('1');
    // Another tenant is not affected.
    expect((await call(url, 'POST', '/v1/execute', CALM, { code: '1' })).status).toBe(200);
    for (const reply of await Promise.all(sleeping)) expect(reply.status).toBe(200);
    expect((await call(url, 'POST', '/v1/execute', DEFAULTS, { code: '1' })).status).toBe(200);
  });

  it('a tenant whose token names no maxSessions gets the server default', async () => {
    const { url } = await serve({ tokens, tenantDefaults: { maxSessions: 2 } });
    for (let i = 0; i < 2; i++) expect((await call(url, 'POST', '/v1/sessions', DEFAULTS)).status).toBe(201);
    const third = await call(url, 'POST', '/v1/sessions', DEFAULTS);
    expect(third.status).toBe(429);
    expect(third.headers.get('retry-after')).toBe('1');
  });

  it('gives every place back: ended one-shots, deleted and crashed sessions free their place once their process is gone', async () => {
    const { url } = await serve({ tokens, acquireTimeoutMs: 5_000, poolOptions: { minIdle: 0, maxSessions: 2 } });
    for (let i = 0; i < 6; i++) expect((await call(url, 'POST', '/v1/execute', CALM, { code: '1' })).status).toBe(200);
    for (let i = 0; i < 3; i++) {
      const id: string = (await call(url, 'POST', '/v1/sessions', CALM)).body.id;
      if (i === 1)
        expect((await call(url, 'POST', `/v1/sessions/${id}/execute`, CALM, { code: 'import os\nos._exit(1)' })).status).toBe(500);
      else expect((await call(url, 'DELETE', `/v1/sessions/${id}`, CALM)).status).toBe(204);
    }
    const held = await Promise.all([call(url, 'POST', '/v1/sessions', CALM), call(url, 'POST', '/v1/sessions', DEFAULTS)]);
    expect(held.map((r) => r.status)).toEqual([201, 201]);
  });
});
