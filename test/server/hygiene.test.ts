import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { bodyOf, fetchRequest, nodeRequest, RawClient, urllibPosts, type Seen } from './clients.js';
import { useBuiltCli } from './cli.js';
import { call, serve, TOKENS } from './helpers.js';

const { alice } = TOKENS;
const MiB = 1024 * 1024;
const json = { 'content-type': 'application/json' };
const bearer = { ...json, authorization: `Bearer ${alice}` };

function expectError(seen: Seen, status: number, code: string): void {
  expect(seen.status, seen.body).toBe(status);
  expect(bodyOf(seen)).toEqual({ error: { code, message: expect.any(String) } });
}

describe('early answers reach the client every time', () => {
  const big = Buffer.alloc(20 * MiB, 'x');

  /** `times` bodies of 20 MiB from each client: every one gets its answer, none a reset. */
  async function everyClientGets(
    times: number,
    headers: Record<string, string>,
    token: string | null,
    status: number,
    code: string,
  ): Promise<void> {
    const { url } = await serve();
    for (let i = 0; i < times; i++) expectError(await nodeRequest(url, 'POST', '/v1/execute', headers, big), status, code);
    for (let i = 0; i < times; i++) expectError(await fetchRequest(url, 'POST', '/v1/execute', headers, big), status, code);
    for (const seen of await urllibPosts(`${url}/v1/execute`, token, times, 20 * MiB)) expectError(seen, status, code);
  }

  it(
    '30 bodies of 20 MiB get their 413 with Node http.request, fetch and Python urllib',
    () => everyClientGets(30, bearer, alice, 413, 'payload_too_large'),
    180_000,
  );

  it('a large body without a token gets its 401 with each client', () => everyClientGets(5, json, null, 401, 'unauthorized'), 120_000);

  it('reads no more than lingerBytes of a body it refused: the rest is cut', async () => {
    const { url } = await serve({ lingerBytes: MiB });
    const client = new RawClient(url, { keepSending: true });
    client.write(`POST /v1/execute HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${200 * MiB}\r\n\r\n`);
    const chunk = Buffer.alloc(64 * 1024, 'x');
    let sent = 0;
    // Keeps sending until the server cuts the connection (the write fails or the socket closes).
    while (!client.socket.destroyed && sent < 200 * MiB) {
      if (!client.socket.write(chunk)) await Promise.race([new Promise((resolve) => client.socket.once('drain', resolve)), client.closed]);
      sent += chunk.length;
    }
    await client.closed;
    expect(client.received).toMatch(/^HTTP\/1\.1 401 /);
    expect(sent).toBeLessThan(100 * MiB);
  });
});

describe('timeouts', () => {
  it('answers a slow body 408 and closes it, with a token or without one', async () => {
    const { url } = await serve({ requestTimeoutMs: 1_000 });
    const withToken = new RawClient(url);
    const without = new RawClient(url);
    const head = (auth: string): string =>
      `POST /v1/execute HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n${auth}\r\n{`;
    withToken.write(head(`authorization: Bearer ${alice}\r\n`));
    without.write(head(''));
    await Promise.all([withToken.closed, without.closed]);
    expect(withToken.received).toMatch(/^HTTP\/1\.1 408 /);
    expect(withToken.received).toContain('"code":"request_timeout"');
    expect(without.received).toMatch(/^HTTP\/1\.1 401 /);
  });

  it('answers slow headers 408 and closes them', async () => {
    const { url } = await serve({ requestTimeoutMs: 2_000, headersTimeoutMs: 500 });
    const client = new RawClient(url);
    client.write('GET /healthz HTTP/1.1\r\nhost: x\r\n');
    await client.closed;
    expect(client.received).toMatch(/^HTTP\/1\.1 408 /);
  });

  it('never cuts an execution that outlives the request timeout: the timeout is for receiving the request', async () => {
    const { url } = await serve({ requestTimeoutMs: 500 });
    const run = await call(url, 'POST', '/v1/execute', alice, { code: 'import time\ntime.sleep(2)\n"slept"' });
    expect(run.body).toMatchObject({ status: 'ok', value: "'slept'" });
  });
});

describe('the error shape, everywhere', () => {
  it('accepts empty bodies with content-type application/json on bodiless routes, and refuses them where a body is needed', async () => {
    const { url } = await serve();
    const created = await fetchRequest(url, 'POST', '/v1/sessions', bearer, Buffer.alloc(0));
    expect(created.status).toBe(201);
    const id = bodyOf(created).id as string;
    expect((await fetchRequest(url, 'POST', `/v1/sessions/${id}/interrupt`, bearer, Buffer.alloc(0))).status).toBe(202);
    expectError(await fetchRequest(url, 'POST', `/v1/sessions/${id}/execute`, bearer, Buffer.alloc(0)), 400, 'invalid_request');
    expect((await nodeRequest(url, 'DELETE', `/v1/sessions/${id}`, { ...bearer, 'content-length': '0' })).status).toBe(204);
  });

  it('answers an oversized head 431, an over-long id 414 and a malformed URL 400, in the API shape', async () => {
    const { url } = await serve();
    const huge = { ...bearer, 'x-padding': 'p'.repeat(100 * 1024) };
    expectError(await nodeRequest(url, 'GET', '/v1/sessions', huge), 431, 'headers_too_large');
    expectError(await fetchRequest(url, 'GET', '/v1/sessions', huge), 431, 'headers_too_large');
    expectError(await nodeRequest(url, 'GET', `/v1/sessions/${'a'.repeat(300)}`, bearer), 414, 'uri_too_long');
    expectError(await nodeRequest(url, 'GET', '/v1/sessions/%E0%A4%A', bearer), 400, 'invalid_request');
    const raw = new RawClient(url);
    raw.write('NOT HTTP AT ALL\r\n\r\n');
    await raw.closed;
    expect(raw.received).toMatch(/^HTTP\/1\.1 400 /);
    expect(raw.received).toContain('{"error":{"code":"invalid_request"');
  });
});

describe('leftovers', () => {
  const start = useBuiltCli();

  it("removes the session folders of a server that was killed, and leaves a live server's alone", async () => {
    // Unsandboxed: a sandboxed session's folder is a private tmpfs, never on the host.
    const dead = start(['serve', '--port', '0', '--min-idle', '2', '--no-sandbox']);
    const [line] = (await once(dead.stdout!, 'data')) as [Buffer];
    expect(String(line)).toMatch(/^listening on /);
    const mine = (): string[] => readdirSync(tmpdir()).filter((name) => name.startsWith(`pyrepl3-${dead.pid}-`));
    expect(mine().length).toBeGreaterThan(0);
    dead.kill('SIGKILL');
    await once(dead, 'exit');
    // A folder of a live host (this test process) that is not a server's must stay.
    const live = join(tmpdir(), `pyrepl3-${process.pid}-s999-keep`);
    mkdirSync(live, { recursive: true });
    await serve();
    expect(mine()).toEqual([]);
    expect(readdirSync(tmpdir())).toContain(`pyrepl3-${process.pid}-s999-keep`);
    rmSync(live, { recursive: true });
  });
});
