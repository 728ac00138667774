import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { processesMentioning } from '../helpers/os.js';
import { serveCli, tokensFile, useBuiltCli, type ServingCli } from '../server/cli.js';
import { call } from '../server/helpers.js';

const TOKEN = 'sandbox-serve-token-0123';
const ADMIN = 'sandbox-serve-admin-4567';
const serve = serveCli(useBuiltCli());

/** Runs code in a new named session of `server`, which it then deletes, and returns the execution result. */
async function run(server: ServingCli, code: string): Promise<{ status: string; value: string | null; error: { name: string } | null }> {
  const { id } = (await call(server.url, 'POST', '/v1/sessions', TOKEN)).body as { id: string };
  const result = (await call(server.url, 'POST', `/v1/sessions/${id}/execute`, TOKEN, { code })).body;
  expect((await call(server.url, 'DELETE', `/v1/sessions/${id}`, TOKEN)).status).toBe(204);
  return result;
}

describe.each(['exec', 'fork'])('pyrepl3 serve --spawn %s, as a hostile tenant finds it', (spawn) => {
  let server: ServingCli;
  let tokens: string;

  beforeAll(async () => {
    tokens = tokensFile([
      { token: TOKEN, tenant: 'mallory' },
      { token: ADMIN, tenant: 'ops', admin: true },
    ]);
    server = await serve(['--tokens', tokens, '--spawn', spawn, '--min-idle', '1', '--log-level', 'warn'], {
      env: { ...process.env, SERVER_SECRET: 'hunter2' },
    });
  });

  afterAll(async () => {
    server.process.kill('SIGTERM');
    expect(await server.exited).toBe(0);
    expect(processesMentioning(server.poolId)).toEqual([]);
  });

  it('sandboxes sessions by default and says nothing is amiss in /readyz', async () => {
    expect((await call(server.url, 'GET', '/readyz', null)).body).toEqual({ status: 'ready' });
    expect(Number((await run(server, 'import os\nos.getuid()')).value)).toBeGreaterThan(0);
  });

  it("cannot read the tokens file, the server's environment or its log", async () => {
    const pid = server.process.pid!;
    const result = await run(
      server,
      `import os\n[os.path.exists(p) for p in (${JSON.stringify(tokens)}, '/proc/${pid}/environ', '/proc/${pid}/fd/2')] + ['SERVER_SECRET' in os.environ]`,
    );
    expect(result.value).toBe('[False, False, False, False]');
  });

  it('cannot reach the API on loopback with a stolen token, nor signal the server', async () => {
    const port = new URL(server.url).port;
    const connect = await run(server, `import socket\nsocket.create_connection(('127.0.0.1', ${port}), timeout=2)`);
    expect(connect.error?.name).toBe('ConnectionRefusedError');
    const kill = await run(server, `import os, signal\nos.kill(${server.process.pid}, signal.SIGKILL)`);
    expect(kill.error?.name).toBe('ProcessLookupError');
    expect((await call(server.url, 'GET', '/healthz', null)).status).toBe(200);
  });

  it("cuts an execution's output at --max-output-bytes", async () => {
    const result = await run(server, "print('x' * (32 * 1024 * 1024))");
    expect([result.status, (result as { truncated?: boolean }).truncated]).toEqual(['ok', true]);
  });

  it('holds the default memory limit for the whole session', async () => {
    const { id } = (await call(server.url, 'POST', '/v1/sessions', TOKEN)).body as { id: string };
    const bomb = await call(server.url, 'POST', `/v1/sessions/${id}/execute`, TOKEN, {
      code: "chunks = []\nwhile True: chunks.append(b'x' * (64 * 1024 * 1024))",
    });
    expect(bomb.body.error.code).toBe('session_died');
    expect(bomb.body.error.message).toContain('out of memory');
    expect((await call(server.url, 'GET', '/healthz', null)).status).toBe(200);
  });
});

describe('pyrepl3 serve without a sandbox', () => {
  it('--no-sandbox warns at start and in /readyz', async () => {
    const server = await serve([
      '--tokens',
      tokensFile([
        { token: TOKEN, tenant: 'mallory' },
        { token: ADMIN, tenant: 'ops', admin: true },
      ]),
      '--min-idle',
      '0',
      '--no-sandbox',
      '--log-level',
      'warn',
    ]);
    expect(server.stderr()).toContain('SESSIONS ARE NOT SANDBOXED');
    const ready = (await call(server.url, 'GET', '/readyz', null)).body as { warnings: string[] };
    expect(ready.warnings.join(' ')).toContain('not sandboxed');
    server.process.kill('SIGTERM');
    expect(await server.exited).toBe(0);
  });

  it('refuses to start sandboxed sessions without cgroups, rather than fall back', async () => {
    const failed = serve([
      '--tokens',
      tokensFile([
        { token: TOKEN, tenant: 'mallory' },
        { token: ADMIN, tenant: 'ops', admin: true },
      ]),
      '--min-idle',
      '0',
      '--cgroup-root',
      '/cgroup.procs/nowhere',
      '--log-level',
      'warn',
    ]);
    await expect(failed).rejects.toThrow(/cgroups for memory, pids, cpu/);
  });
});
