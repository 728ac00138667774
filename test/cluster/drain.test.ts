import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { processesMentioning } from '../helpers/os.js';
import { serveCli, tokensFile, useBuiltCli, type ServingCli } from '../server/cli.js';
import { call, until } from '../server/helpers.js';

const TOKEN = 'drain-tenant-token-0123';
const ADMIN = 'drain-admin-token-4567';
const serve = serveCli(useBuiltCli());

function start(extra: string[] = []): Promise<ServingCli> {
  return serve([
    '--tokens',
    tokensFile([
      { token: TOKEN, tenant: 'alice' },
      { token: ADMIN, tenant: 'ops', admin: true },
    ]),
    '--min-idle',
    '1',
    '--max-sessions',
    '2',
    '--no-sandbox',
    '--log-level',
    'warn',
    '--agent-port',
    '0',
    ...extra,
  ]);
}

/** The agent check's one line: what HAProxy would read. */
function agent(server: ServingCli): Promise<string> {
  const port = Number(/agent check on \S+:(\d+)/.exec(server.stdout())![1]);
  return new Promise((resolve, reject) => {
    let text = '';
    connect(port, '127.0.0.1')
      .on('data', (d) => (text += d.toString()))
      .on('end', () => resolve(text))
      .on('error', reject);
  });
}

describe('a draining node', () => {
  it.each([
    ['POST /v1/admin/drain', async (s: ServingCli) => expect((await call(s.url, 'POST', '/v1/admin/drain', ADMIN)).status).toBe(202)],
    [
      'SIGUSR2',
      async (s: ServingCli) => {
        s.process.kill('SIGUSR2');
        await until(async () => (await call(s.url, 'GET', '/readyz', null)).status === 503);
      },
    ],
  ])('(%s) takes no new sessions, keeps serving its own, and exits once the last one ends', async (_how, drain) => {
    const server = await start();
    expect(await agent(server)).toMatch(/^up ready \d+%\n$/);
    const { id } = (await call(server.url, 'POST', '/v1/sessions', TOKEN)).body;
    await call(server.url, 'POST', `/v1/sessions/${id}/execute`, TOKEN, { code: 'kept = 6 * 7' });
    expect((await call(server.url, 'POST', '/v1/admin/drain', TOKEN)).status).toBe(403);
    await drain(server);

    const ready = await call(server.url, 'GET', '/readyz', null);
    expect([ready.status, ready.body.error.code]).toEqual([503, 'draining']);
    expect(await agent(server)).toBe('drain\n');
    for (const [path, body] of [
      ['/v1/sessions', undefined],
      ['/v1/execute', { code: '1' }],
    ] as const) {
      const refused = await call(server.url, 'POST', path, TOKEN, body);
      expect([path, refused.status, refused.body.error.code]).toEqual([path, 503, 'draining']);
    }
    expect((await call(server.url, 'POST', `/v1/sessions/${id}/execute`, TOKEN, { code: 'kept' })).body.value).toBe('42');
    expect((await call(server.url, 'GET', '/healthz', null)).status).toBe(200);

    expect((await call(server.url, 'DELETE', `/v1/sessions/${id}`, TOKEN)).status).toBe(204);
    expect(await server.exited).toBe(0);
    expect(processesMentioning(server.poolId)).toEqual([]);
  });

  it('stops at --drain-deadline-ms even while sessions remain', async () => {
    const server = await start(['--drain-deadline-ms', '300']);
    await call(server.url, 'POST', '/v1/sessions', TOKEN);
    server.process.kill('SIGUSR2');
    expect(await server.exited).toBe(0);
  });
});

describe('SIGTERM', () => {
  it('keeps the listener and /healthz up through the grace period, so a running execution still returns', async () => {
    const server = await start(['--grace-ms', '5000']);
    const { id } = (await call(server.url, 'POST', '/v1/sessions', TOKEN)).body;
    const running = call(server.url, 'POST', `/v1/sessions/${id}/execute`, TOKEN, {
      code: "import time\nprint('started', flush=True)\ntime.sleep(1.5)\n'finished'",
    });
    // Once the execution has begun (its output is in the session's log), the signal.
    for (;;) {
      const log = await call(server.url, 'GET', `/v1/sessions/${id}`, TOKEN);
      if (log.body.executing === true) break;
    }
    server.process.kill('SIGTERM');
    await until(async () => (await call(server.url, 'GET', '/readyz', null)).status === 503);
    expect((await call(server.url, 'GET', '/healthz', null)).status).toBe(200);
    const result = await running;
    expect([result.status, result.body.value]).toEqual([200, "'finished'"]);
    expect(await server.exited).toBe(0);
  });
});

describe('the agent check', () => {
  it('gives a full node no weight', async () => {
    const server = await start();
    await call(server.url, 'POST', '/v1/sessions', TOKEN);
    await call(server.url, 'POST', '/v1/sessions', TOKEN);
    expect(await agent(server)).toBe('up ready 0%\n');
    server.process.kill('SIGTERM');
    expect(await server.exited).toBe(0);
  });
});
