import { randomUUID } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { SessionStartError } from '../../src/index.js';
import { processesMentioning } from '../helpers/os.js';
import { call, refusedUpgrade, serve, StreamClient, TOKENS, until, wsUrl } from './helpers.js';

const { alice, bob, carol } = TOKENS;

describe('unauthenticated routes', () => {
  it('serves /healthz, /readyz, /openapi.json and /metrics without a token', async () => {
    const { url } = await serve();
    expect((await call(url, 'GET', '/healthz', null)).status).toBe(200);
    expect(await call(url, 'GET', '/readyz', null)).toMatchObject({ status: 200, body: { status: 'ready' } });
    const doc = await call(url, 'GET', '/openapi.json', null);
    expect(doc.status).toBe(200);
    expect(doc.body.openapi).toMatch(/^3\./);
    expect(Object.keys(doc.body.paths)).toEqual(
      expect.arrayContaining(['/v1/sessions', '/v1/sessions/{id}', '/v1/sessions/{id}/execute', '/v1/execute', '/v1/sessions/{id}/stream']),
    );
    const metrics = await call(url, 'GET', '/metrics', null);
    expect(metrics.status).toBe(200);
    expect(metrics.headers.get('content-type')).toContain('text/plain');
    expect(metrics.body).toContain('pyrepl3_pool_sessions{state="idle"} 1');
  });
});

describe('the session lifecycle', () => {
  it('creates, lists, gets, executes with state kept, interrupts, deletes', async () => {
    const { url } = await serve();
    const created = await call(url, 'POST', '/v1/sessions', alice);
    expect(created.status).toBe(201);
    expect(created.body.id).toMatch(/^[a-z0-9-]+\.[0-9a-f]{8}\.[0-9a-f-]{36}$/);
    expect(Number.isNaN(Date.parse(created.body.createdAt))).toBe(false);
    const id: string = created.body.id;

    const listed = await call(url, 'GET', '/v1/sessions', alice);
    expect(listed.status).toBe(200);
    expect(listed.body.sessions.map((s: { id: string }) => s.id)).toEqual([id]);

    const one = await call(url, 'GET', `/v1/sessions/${id}`, alice);
    expect(one).toMatchObject({ status: 200, body: { id, executing: false } });

    const first = await call(url, 'POST', `/v1/sessions/${id}/execute`, alice, { code: 'x = 41\nprint("hi")' });
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ status: 'ok', stdout: 'hi\n', value: null, executionCount: 1, error: null, truncated: false });
    const second = await call(url, 'POST', `/v1/sessions/${id}/execute`, alice, { code: 'x + 1' });
    expect(second.body).toMatchObject({ status: 'ok', value: '42', executionCount: 2, data: { 'text/plain': '42' } });

    const raised = await call(url, 'POST', `/v1/sessions/${id}/execute`, alice, { code: 'raise ValueError("nope")' });
    expect(raised.status).toBe(200);
    expect(raised.body.status).toBe('error');
    expect(raised.body.error).toMatchObject({ name: 'ValueError', message: 'nope' });

    const timedOut = await call(url, 'POST', `/v1/sessions/${id}/execute`, alice, { code: 'import time\ntime.sleep(30)', timeoutMs: 200 });
    expect(timedOut.body.status).toBe('timeout');
    expect((await call(url, 'POST', `/v1/sessions/${id}/execute`, alice, { code: 'x' })).body.value).toBe('41');

    expect((await call(url, 'POST', `/v1/sessions/${id}/interrupt`, alice)).status).toBe(202);

    expect((await call(url, 'DELETE', `/v1/sessions/${id}`, alice)).status).toBe(204);
    expect((await call(url, 'GET', `/v1/sessions/${id}`, alice)).status).toBe(404);
    expect((await call(url, 'GET', '/v1/sessions', alice)).body.sessions).toEqual([]);
  });

  it('POST /v1/execute runs one-shot on a session that is destroyed afterwards', async () => {
    const server = await serve();
    const { url, pool } = server;
    const run = await call(url, 'POST', '/v1/execute', bob, { code: 'import os\nsecret = 1\nprint("out")\nos.getpid()' });
    expect(run.status).toBe(200);
    expect(run.body).toMatchObject({ status: 'ok', stdout: 'out\n' });
    const pid = Number(run.body.value);
    await until(() => !processesMentioning(pool.id).includes(pid));
    const again = await call(url, 'POST', '/v1/execute', bob, { code: 'secret' });
    expect(again.body.status).toBe('error');
    expect(again.body.error.name).toBe('NameError');
    expect(server.registry.size).toBe(0);
  });

  it('culls a named session after idleTimeoutMs without use, and use resets the clock', async () => {
    const server = await serve({ idleTimeoutMs: 300 });
    const { url } = server;
    const id: string = (await call(url, 'POST', '/v1/sessions', alice)).body.id;
    const pid = Number((await call(url, 'POST', `/v1/sessions/${id}/execute`, alice, { code: 'import os; os.getpid()' })).body.value);
    await until(() => server.registry.size === 0);
    expect((await call(url, 'GET', `/v1/sessions/${id}`, alice)).status).toBe(404);
    await until(() => !processesMentioning(server.pool.id).includes(pid));
  });
});

describe('tenants', () => {
  it("cannot see or touch each other's sessions (404, not 403)", async () => {
    const { url } = await serve();
    const aliceId: string = (await call(url, 'POST', '/v1/sessions', alice)).body.id;
    const bobId: string = (await call(url, 'POST', '/v1/sessions', bob)).body.id;
    await call(url, 'POST', `/v1/sessions/${aliceId}/execute`, alice, { code: 'private = "alice"' });

    expect((await call(url, 'GET', '/v1/sessions', alice)).body.sessions.map((s: { id: string }) => s.id)).toEqual([aliceId]);
    expect((await call(url, 'GET', '/v1/sessions', bob)).body.sessions.map((s: { id: string }) => s.id)).toEqual([bobId]);

    for (const [method, path, body] of [
      ['GET', `/v1/sessions/${aliceId}`, undefined],
      ['POST', `/v1/sessions/${aliceId}/execute`, { code: 'private' }],
      ['POST', `/v1/sessions/${aliceId}/interrupt`, undefined],
      ['DELETE', `/v1/sessions/${aliceId}`, undefined],
    ] as const) {
      const reply = await call(url, method, path, bob, body);
      expect(reply.status, `${method} ${path}`).toBe(404);
      expect(reply.body).toEqual({ error: { code: 'not_found', message: 'session not found' } });
    }
    expect(await refusedUpgrade(wsUrl(url, `/v1/sessions/${aliceId}/stream`), { authorization: `Bearer ${bob}` })).toBe(404);

    // Alice's session is untouched by all that.
    expect((await call(url, 'POST', `/v1/sessions/${aliceId}/execute`, alice, { code: 'private' })).body.value).toBe("'alice'");
  });
});

describe('error codes, all in one shape', () => {
  it('401 without a valid token', async () => {
    const { url } = await serve();
    for (const token of [null, 'wrong-token-123456']) {
      for (const [method, path] of [
        ['GET', '/v1/sessions'],
        ['POST', '/v1/sessions'],
        ['POST', '/v1/execute'],
      ] as const) {
        const reply = await call(url, method, path, token, method === 'POST' ? { code: '1' } : undefined);
        expect(reply.status).toBe(401);
        expect(reply.body).toEqual({ error: { code: 'unauthorized', message: expect.any(String) } });
      }
    }
    const basic = await fetch(`${url}/v1/sessions`, { headers: { authorization: `Basic ${alice}` } });
    expect(basic.status).toBe(401);
    expect(await refusedUpgrade(wsUrl(url, '/v1/sessions/x/stream'))).toBe(401);
  });

  it('400 for invalid input', async () => {
    const { url } = await serve();
    const id: string = (await call(url, 'POST', '/v1/sessions', alice)).body.id;
    for (const body of [{}, { code: 1 }, { code: '1', timeoutMs: -5 }, { code: '1', timeoutMs: '100' }, { code: '1', extra: true }]) {
      for (const path of ['/v1/execute', `/v1/sessions/${id}/execute`]) {
        const reply = await call(url, 'POST', path, alice, body);
        expect(reply.status, JSON.stringify(body)).toBe(400);
        expect(reply.body.error.code).toBe('invalid_request');
      }
    }
    const broken = await call(url, 'POST', '/v1/execute', alice, undefined, { rawBody: '{"code": ' });
    expect(broken.status).toBe(400);
    expect(broken.body.error.code).toBe('invalid_request');
  });

  it('404 for unknown sessions and routes', async () => {
    const { url } = await serve();
    const reply = await call(url, 'GET', '/v1/sessions/00000000-0000-0000-0000-000000000000', alice);
    expect(reply).toMatchObject({ status: 404, body: { error: { code: 'not_found' } } });
    expect((await call(url, 'GET', '/nope', null)).body.error.code).toBe('not_found');
  });

  it('409 when the session is already executing; interrupt ends the running code', async () => {
    const { url } = await serve();
    const id: string = (await call(url, 'POST', '/v1/sessions', alice)).body.id;
    const stream = await StreamClient.open(wsUrl(url, `/v1/sessions/${id}/stream`), alice);
    stream.send({ type: 'execute', id: 'long', code: 'import time\nprint("started", flush=True)\nwhile True: time.sleep(0.01)' });
    await stream.next((m) => m.type === 'output' && m.text.includes('started'));
    expect((await call(url, 'GET', `/v1/sessions/${id}`, alice)).body.executing).toBe(true);

    const busy = await call(url, 'POST', `/v1/sessions/${id}/execute`, alice, { code: '1' });
    expect(busy.status).toBe(409);
    expect(busy.body.error.code).toBe('session_busy');

    expect((await call(url, 'POST', `/v1/sessions/${id}/interrupt`, alice)).status).toBe(202);
    const result = await stream.next((m) => m.type === 'result' && m.id === 'long');
    expect(result.result.status).toBe('interrupted');
    expect(result.result.error.name).toBe('KeyboardInterrupt');
    expect((await call(url, 'POST', `/v1/sessions/${id}/execute`, alice, { code: '2 + 2' })).body.value).toBe('4');
    await stream.close();
  });

  it('413 for bodies over bodyLimit and for code over maxCodeBytes', async () => {
    const { url } = await serve({ bodyLimit: 64 * 1024, maxCodeBytes: 4 * 1024 });
    const id: string = (await call(url, 'POST', '/v1/sessions', alice)).body.id;
    const huge = await call(url, 'POST', '/v1/execute', alice, { code: `# ${'x'.repeat(100 * 1024)}` });
    expect(huge.status).toBe(413);
    expect(huge.body.error.code).toBe('payload_too_large');
    for (const path of ['/v1/execute', `/v1/sessions/${id}/execute`]) {
      const big = await call(url, 'POST', path, alice, { code: `# ${'x'.repeat(8 * 1024)}` });
      expect(big.status).toBe(413);
      expect(big.body.error.code).toBe('code_too_large');
    }
    expect((await call(url, 'POST', `/v1/sessions/${id}/execute`, alice, { code: '1' })).body.value).toBe('1');
  });

  it('413 from the library (CodeTooLargeError) maps the same way', async () => {
    // The pool's own limit is lower than the server's, so the library refuses first.
    const { url } = await serve({ maxCodeBytes: 64 * 1024, poolOptions: { limits: { maxCodeBytes: 1024 } } });
    const big = await call(url, 'POST', '/v1/execute', alice, { code: `# ${'x'.repeat(2048)}` });
    expect(big.status).toBe(413);
    expect(big.body.error.code).toBe('code_too_large');
  });

  it('429 when a tenant is at its session quota; a freed slot can be used again', async () => {
    const { url } = await serve();
    const first = await call(url, 'POST', '/v1/sessions', carol);
    expect(first.status).toBe(201);
    const second = await call(url, 'POST', '/v1/sessions', carol);
    expect(second.status).toBe(429);
    expect(second.body.error.code).toBe('quota_exceeded');
    // Other tenants are not affected by carol's quota.
    expect((await call(url, 'POST', '/v1/sessions', bob)).status).toBe(201);
    expect((await call(url, 'DELETE', `/v1/sessions/${first.body.id}`, carol)).status).toBe(204);
    expect((await call(url, 'POST', '/v1/sessions', carol)).status).toBe(201);
  });

  it('503 when the pool cannot grant a session in time', async () => {
    const { url } = await serve({ acquireTimeoutMs: 300, poolOptions: { minIdle: 1, maxSessions: 1 } });
    expect((await call(url, 'POST', '/v1/sessions', alice)).status).toBe(201);
    for (const [path, body] of [
      ['/v1/sessions', undefined],
      ['/v1/execute', { code: '1' }],
    ] as const) {
      const reply = await call(url, 'POST', path, bob, body);
      expect(reply.status).toBe(503);
      expect(reply.body.error.code).toBe('pool_exhausted');
    }
  });
});

describe('a session that dies mid-execution', () => {
  it("answers 500 session_died with what the execution printed; the session's stream had that output already", async () => {
    const { url } = await serve();
    const id: string = (await call(url, 'POST', '/v1/sessions', alice)).body.id;
    const stream = await StreamClient.open(wsUrl(url, `/v1/sessions/${id}/stream`), alice);
    // The code exits only once the server has both lines (the stream shows them): a flag file the test creates.
    const flag = join(tmpdir(), `pyrepl3-flag-${randomUUID()}`);
    const code = `import os, sys, time\nprint("to out", flush=True)\nprint("to err", file=sys.stderr, flush=True)\nwhile not os.path.exists(${JSON.stringify(flag)}): time.sleep(0.01)\nos._exit(1)`;
    try {
      const answer = call(url, 'POST', `/v1/sessions/${id}/execute`, alice, { code });
      await stream.next((m) => m.type === 'output' && m.stream === 'stdout' && m.text.includes('to out'));
      await stream.next((m) => m.type === 'output' && m.stream === 'stderr' && m.text.includes('to err'));
      writeFileSync(flag, '');
      const reply = await answer;
      expect(reply.status).toBe(500);
      expect(reply.body).toEqual({
        error: { code: 'session_died', message: 'session died: process exited with code 1', stdout: 'to out\n', stderr: 'to err\n' },
      });
      const failed = await stream.next((m) => m.type === 'error');
      expect(failed.error).toEqual({ code: 'session_died', message: 'session died: process exited with code 1' });
      // The death was told to the execute that saw it; the session is then gone, not told again.
      expect((await call(url, 'GET', `/v1/sessions/${id}`, alice)).status).toBe(404);
    } finally {
      rmSync(flag, { force: true });
      await stream.close();
    }
  });
});

describe('a session that dies between requests', () => {
  it('is ended at once, freeing its quota; its next request hears the death once, then 404', async () => {
    const { url } = await serve();
    const id: string = (await call(url, 'POST', '/v1/sessions', carol)).body.id; // carol: maxSessions 1
    expect((await call(url, 'POST', '/v1/sessions', carol)).status).toBe(429);
    // The execution ends at once; a thread kills the process after it, while nobody is asking.
    const code = 'import os, threading\nthreading.Timer(0.05, lambda: os._exit(3)).start()';
    expect((await call(url, 'POST', `/v1/sessions/${id}/execute`, carol, { code })).body.status).toBe('ok');
    await until(async () => (await call(url, 'POST', '/v1/sessions', carol)).status === 201);
    const told = await call(url, 'GET', `/v1/sessions/${id}`, carol);
    expect([told.status, told.body.error.code, told.body.error.message]).toEqual([
      500,
      'session_died',
      'session died: process exited with code 3',
    ]);
    expect((await call(url, 'GET', `/v1/sessions/${id}`, carol)).status).toBe(404);
  });
});

describe('operations', () => {
  it('exports Prometheus metrics with the pyrepl3_ prefix after traffic', async () => {
    const { url } = await serve();
    const id: string = (await call(url, 'POST', '/v1/sessions', alice)).body.id;
    await call(url, 'POST', `/v1/sessions/${id}/execute`, alice, { code: '1' });
    await call(url, 'POST', `/v1/sessions/${id}/execute`, alice, { code: '1/0' });
    await call(url, 'POST', '/v1/execute', alice, { code: '1' });
    const text: string = (await call(url, 'GET', '/metrics', null)).body;
    expect(text).toContain('pyrepl3_executions_total{kind="session",outcome="ok"} 1');
    expect(text).toContain('pyrepl3_executions_total{kind="session",outcome="error"} 1');
    expect(text).toContain('pyrepl3_executions_total{kind="oneshot",outcome="ok"} 1');
    expect(text).toMatch(/pyrepl3_acquire_wait_seconds_count 2/);
    expect(text).toMatch(/pyrepl3_execution_duration_seconds_count\{kind="session"\} 2/);
    expect(text).toContain('pyrepl3_named_sessions 1');
    expect(text).toMatch(/pyrepl3_pool_acquisitions_total 2/);
    for (const line of text.split('\n')) {
      if (line !== '' && !line.startsWith('#')) expect(line.startsWith('pyrepl3_')).toBe(true);
    }
  });

  it('close() lets a running execution finish, refuses new work, leaves no Python process', async () => {
    const server = await serve();
    const id: string = (await call(server.url, 'POST', '/v1/sessions', alice)).body.id;
    const stream = await StreamClient.open(wsUrl(server.url, `/v1/sessions/${id}/stream`), alice);
    stream.send({ type: 'execute', id: 'c1', code: 'import time\nprint("started", flush=True)\ntime.sleep(0.5)\n"finished"' });
    await stream.next((m) => m.type === 'output');
    const closed = server.close({ graceMs: 5_000 });
    const result = await stream.next((m) => m.type === 'result');
    expect(result.result).toMatchObject({ status: 'ok', value: "'finished'" });
    await closed;
    expect(processesMentioning(server.pool.id)).toEqual([]);
  });
});

describe('closing the app itself', () => {
  it('app.close() alone ends everything: a running execution is interrupted and answered, no Python process is left', async () => {
    const server = await serve();
    const id: string = (await call(server.url, 'POST', '/v1/sessions', alice)).body.id;
    const stream = await StreamClient.open(wsUrl(server.url, `/v1/sessions/${id}/stream`), alice);
    const answer = call(server.url, 'POST', `/v1/sessions/${id}/execute`, alice, {
      code: 'import time\nprint("started", flush=True)\ntime.sleep(60)',
    });
    await stream.next((m) => m.type === 'output' && m.text.includes('started'));
    await server.app.close();
    const reply = await answer;
    expect(reply.status).toBe(200);
    expect(reply.body.status).toBe('interrupted');
    expect(server.registry.size).toBe(0);
    expect(processesMentioning(server.pool.id)).toEqual([]);
    await stream.closed;
  });
});

describe('a server that cannot start', () => {
  it('rejects with the pool start error and leaves no process behind', async () => {
    // The first session's warmup raises; the second's succeeds, so a server that failed to start
    // without shutting its pool down would leave that session's process behind.
    const marker = join(tmpdir(), `pyrepl3-first-fails-${randomUUID()}`);
    const warmupCode = `import os\ntry:\n    os.close(os.open(${JSON.stringify(marker)}, os.O_CREAT | os.O_EXCL))\nexcept FileExistsError:\n    pass\nelse:\n    1 / 0`;
    const lines: string[] = [];
    const logger = pino({ level: 'debug' }, { write: (line: string) => void lines.push(line) });
    const error = await serve({ logger, poolOptions: { minIdle: 2, warmupCode } }).catch((e: unknown) => e);
    rmSync(marker, { force: true });
    expect(error).toBeInstanceOf(SessionStartError);
    // The pool names itself in its log lines, and every process of it carries that name.
    const pools = new Set(lines.map((line) => (JSON.parse(line) as { pool?: string }).pool).filter((id) => id !== undefined));
    expect(pools.size).toBe(1);
    for (const id of pools) expect(processesMentioning(id)).toEqual([]);
  });
});
