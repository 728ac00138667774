import { describe, expect, it } from 'vitest';
import { call, refusedUpgrade, serve, StreamClient, TOKENS, wsUrl } from './helpers.js';

const { alice, bob } = TOKENS;

async function sessionWithStream(viaQuery = false): Promise<{ url: string; id: string; stream: StreamClient }> {
  const { url } = await serve();
  const id: string = (await call(url, 'POST', '/v1/sessions', alice)).body.id;
  const stream = await StreamClient.open(wsUrl(url, `/v1/sessions/${id}/stream`), alice, viaQuery);
  return { url, id, stream };
}

describe('WebSocket stream', () => {
  it('sends output as it happens, before the result, in order', async () => {
    const { stream } = await sessionWithStream();
    const code = [
      'import sys, time',
      'for i in range(200):',
      '    print(i, flush=True)',
      'print("err", file=sys.stderr, flush=True)',
      '"done"',
    ].join('\n');
    stream.send({ type: 'execute', id: 'c1', code });
    const result = await stream.next((m) => m.type === 'result' && m.id === 'c1');
    const mine = stream.messages.filter((m) => m.id === 'c1');
    expect(mine.at(-1)).toBe(result);
    const outputs = mine.slice(0, -1);
    expect(outputs.length).toBeGreaterThan(0);
    for (const m of outputs) expect(m.type).toBe('output');
    const stdout = outputs
      .filter((m) => m.stream === 'stdout')
      .map((m) => m.text)
      .join('');
    expect(stdout).toBe(Array.from({ length: 200 }, (_, i) => `${i}\n`).join(''));
    expect(
      outputs
        .filter((m) => m.stream === 'stderr')
        .map((m) => m.text)
        .join(''),
    ).toBe('err\n');
    // The result does not repeat the output the stream already carried.
    expect(result.result).toMatchObject({ status: 'ok', value: "'done'", stdout: '', stderr: '' });
    expect(outputs.map((m) => m.seq)).toEqual(outputs.map((_, i) => i + 1));
    await stream.close();
  });

  it('delivers output while the code is still running (the client reacts to it with an interrupt)', async () => {
    const { stream } = await sessionWithStream();
    stream.send({ type: 'execute', id: 'spin', code: 'import time\nprint("ready", flush=True)\nwhile True: time.sleep(0.01)' });
    const ready = await stream.next((m) => m.type === 'output' && m.id === 'spin');
    expect(ready.text).toContain('ready');
    // The code never ends by itself: output can only have come before the result.
    expect(stream.messages.some((m) => m.type === 'result')).toBe(false);
    stream.send({ type: 'interrupt' });
    const result = await stream.next((m) => m.type === 'result' && m.id === 'spin');
    expect(result.result.status).toBe('interrupted');
    await stream.close();
  });

  it('accepts the token as a query parameter (browsers) and refuses bad tokens and foreign sessions', async () => {
    const { url, id, stream } = await sessionWithStream(true);
    stream.send({ type: 'execute', id: 'q', code: '6 * 7' });
    expect((await stream.next((m) => m.type === 'result')).result.value).toBe('42');
    await stream.close();
    const path = wsUrl(url, `/v1/sessions/${id}/stream`);
    expect(await refusedUpgrade(path)).toBe(401);
    expect(await refusedUpgrade(`${path}?token=wrong-token-123`)).toBe(401);
    expect(await refusedUpgrade(`${path}?token=${bob}`)).toBe(404);
    expect(await refusedUpgrade(wsUrl(url, '/v1/sessions/no-such-session/stream'), { authorization: `Bearer ${alice}` })).toBe(404);
  });

  it('a disconnecting client does not lose the session; a reconnecting one continues, even mid-execution', async () => {
    const { url, id, stream } = await sessionWithStream();
    stream.send({ type: 'execute', id: 'a', code: 'x = 41' });
    await stream.next((m) => m.type === 'result' && m.id === 'a');
    stream.send({ type: 'execute', id: 'b', code: 'import time\nprint("going", flush=True)\ntime.sleep(0.3)\nx += 1' });
    await stream.next((m) => m.type === 'output' && m.id === 'b');
    await stream.close();

    const again = await StreamClient.open(wsUrl(url, `/v1/sessions/${id}/stream`), alice);
    // The execution started by the first client keeps the session busy until it ends.
    let value: string | null = null;
    for (let attempt = 0; value === null; attempt++) {
      again.send({ type: 'execute', id: `c${attempt}`, code: 'x' });
      const reply = await again.next((m) => (m.type === 'result' || m.type === 'error') && m.id === `c${attempt}`);
      if (reply.type === 'result') value = reply.result.value;
      else expect(reply.error.code).toBe('session_busy');
    }
    expect(value).toBe('42');
    await again.close();
    expect((await call(url, 'GET', `/v1/sessions/${id}`, alice)).status).toBe(200);
  });

  it('answers bad messages with an error message and keeps the socket open', async () => {
    const { stream } = await sessionWithStream();
    stream.send({ type: 'nope' });
    stream.socket.send('not json');
    stream.send({ type: 'execute', id: 'x' });
    stream.send({ type: 'execute', id: 'y', code: '1', timeoutMs: -1 });
    stream.send({ type: 'execute', id: 'ok', code: '1 + 1' });
    const result = await stream.next((m) => m.type === 'result' && m.id === 'ok');
    expect(result.result.value).toBe('2');
    const errors = stream.messages.filter((m) => m.type === 'error');
    expect(errors).toHaveLength(4);
    for (const e of errors) expect(e.error.code).toBe('invalid_request');
    await stream.close();
  });

  it('a second execute while one runs gets a session_busy error for that id only', async () => {
    const { stream } = await sessionWithStream();
    stream.send({ type: 'execute', id: 'long', code: 'import time\nprint("in", flush=True)\ntime.sleep(0.3)\n"long"' });
    await stream.next((m) => m.type === 'output' && m.id === 'long');
    stream.send({ type: 'execute', id: 'second', code: '1' });
    const busy = await stream.next((m) => m.id === 'second');
    expect(busy).toMatchObject({ type: 'error', id: 'second', error: { code: 'session_busy' } });
    expect((await stream.next((m) => m.type === 'result' && m.id === 'long')).result.value).toBe("'long'");
    await stream.close();
  });
});
