import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { call, serve, StreamClient, TOKENS, until, wsUrl } from './helpers.js';

const { alice } = TOKENS;

const lines = (from: number, to: number): string => Array.from({ length: to - from }, (_, i) => `${from + i}\n`).join('');

async function session(
  options: Parameters<typeof serve>[0] = {},
): Promise<{ url: string; id: string; stream: (since?: number) => Promise<StreamClient> }> {
  const { url } = await serve(options);
  const id: string = (await call(url, 'POST', '/v1/sessions', alice)).body.id;
  const path = wsUrl(url, `/v1/sessions/${id}/stream`);
  return { url, id, stream: (since) => StreamClient.open(since === undefined ? path : `${path}?since=${since}`, alice) };
}

describe('reconnect with replay', () => {
  it('a client that reconnects mid-execution with ?since= gets every output event exactly once, in order, then the result', async () => {
    const { url, id, stream } = await session();
    const dir = mkdtempSync(join(tmpdir(), 'pyrepl3-test-'));
    const flag = (name: string): string => JSON.stringify(join(dir, name));
    const first = await stream();
    // Step by step, on the test's flags: "start", then 200 lines while the client is away, then 200 more after it is back.
    const code = [
      'import os, sys, time',
      'def wait(path):',
      '    while not os.path.exists(path): time.sleep(0.01)',
      'sys.stdout.write("start\\n"); sys.stdout.flush()',
      `wait(${flag('away')})`,
      'for i in range(200): print(i, flush=True)',
      `wait(${flag('back')})`,
      'for i in range(200, 400): print(i, flush=True)',
      '"end"',
    ].join('\n');
    first.send({ type: 'execute', id: 'r', code });
    const start = await first.next((m) => m.type === 'output' && m.text === 'start\n');
    first.socket.terminate();
    await first.closed;
    writeFileSync(join(dir, 'away'), '');
    // Output the client missed is in the log before it reconnects.
    await until(async () =>
      (await call(url, 'GET', `/v1/sessions/${id}/executions/r`, alice)).body.output
        .map((o: { text: string }) => o.text)
        .join('')
        .includes('199\n'),
    );

    const second = await stream(start.seq);
    writeFileSync(join(dir, 'back'), '');
    const result = await second.next((m) => m.type === 'result' && m.id === 'r');
    expect(result.result.value).toBe("'end'");
    const outputs = [start, ...second.messages.filter((m) => m.type === 'output')];
    expect(outputs.map((m) => m.seq)).toEqual(outputs.map((_, i) => i + 1));
    expect(outputs.map((m) => m.text).join('')).toBe(`start\n${lines(0, 400)}`);
    expect(result.seq).toBe(outputs.length + 1);
    rmSync(dir, { recursive: true });
    await second.close();
  });

  it('delivers a result that arrived while the client was away, and a gap when the log no longer reaches back', async () => {
    const { url, id, stream } = await session({ streamLogChars: 20_000 });
    const first = await stream();
    first.send({ type: 'execute', id: 'big', code: 'for i in range(20000): print(i)' });
    await first.close();
    await until(async () => (await call(url, 'GET', `/v1/sessions/${id}/executions/big`, alice)).body.status === 'done');

    const again = await stream(0);
    const result = await again.next((m) => m.type === 'result' && m.id === 'big');
    const [gap, ...rest] = again.messages;
    expect(gap).toEqual({ type: 'gap', from: 1, to: expect.any(Number) });
    // After the gap, the kept events follow on without a hole, up to the result.
    expect(rest[0].seq).toBe(gap.to + 1);
    expect(rest.map((m) => m.seq)).toEqual(rest.map((_, i) => gap.to + 1 + i));
    expect(rest.at(-1)).toBe(result);
    const text = rest
      .filter((m) => m.type === 'output')
      .map((m) => m.text)
      .join('');
    expect(lines(0, 20000).endsWith(text)).toBe(true);
    expect(text.length).toBeLessThan(20_000);
    await again.close();
  });

  it('GET /v1/sessions/:id/executions/:execId: status, result once done, and the output log, for stream and HTTP executions', async () => {
    const { url, id, stream } = await session();
    const client = await stream();
    client.send({ type: 'execute', id: 'w', code: 'import time\nprint("a", flush=True)\ntime.sleep(0.3)\nprint("b")\n7' });
    await client.next((m) => m.type === 'output' && m.id === 'w');
    const running = await call(url, 'GET', `/v1/sessions/${id}/executions/w`, alice);
    expect(running.body).toMatchObject({ id: 'w', status: 'running', result: null, error: null, gap: null });
    await client.next((m) => m.type === 'result' && m.id === 'w');
    const done = await call(url, 'GET', `/v1/sessions/${id}/executions/w`, alice);
    expect(done.body).toMatchObject({ status: 'done', result: { status: 'ok', value: '7' }, gap: null });
    expect(done.body.output.map((o: { text: string }) => o.text).join('')).toBe('a\nb\n');

    const http = await call(url, 'POST', `/v1/sessions/${id}/execute`, alice, { code: 'print("h")' });
    expect(http.body.stdout).toBe('h\n');
    // Other streams on the session see HTTP executions too.
    // Other streams on the session see HTTP executions too.
    const execId = http.headers.get('x-execution-id')!;
    const streamed = await client.next((m) => m.type === 'result' && m.id === execId);
    // The HTTP caller's result has the output; the stream's does not repeat what it streamed.
    expect(streamed.result).toMatchObject({ status: 'ok', stdout: '', stderr: '' });
    expect(
      client.messages
        .filter((m) => m.type === 'output' && m.id === execId)
        .map((m) => m.text)
        .join(''),
    ).toBe('h\n');
    const record = await call(url, 'GET', `/v1/sessions/${id}/executions/${execId}`, alice);
    expect(record.body).toMatchObject({ status: 'done', gap: null });
    expect(record.body.output.map((o: { text: string }) => o.text).join('')).toBe('h\n');
    expect((await call(url, 'GET', `/v1/sessions/${id}/executions/nope`, alice)).status).toBe(404);
    await client.close();
  });

  it('refuses a malformed since', async () => {
    const { url, id } = await session();
    const response = await fetch(`${url}/v1/sessions/${id}/stream?since=-1`, { headers: { authorization: `Bearer ${alice}` } });
    expect(response.status).toBe(400);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe('invalid_request');
  });
});
