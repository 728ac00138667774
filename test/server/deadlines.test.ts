import { describe, expect, it } from 'vitest';
import { isAlive } from '../helpers/os.js';
import { call, serve, StreamClient, TOKENS, wsUrl } from './helpers.js';

const { alice, bob } = TOKENS;

/** Code that ignores SIGINT and never ends: only a kill stops it. It prints its pid first. */
const STUBBORN = 'import os, signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nprint(os.getpid(), flush=True)\nwhile True: pass';

describe('deadlines by default', () => {
  it('kills a SIGINT-ignoring loop given no timeout at the server default deadline + grace; the client gets a timeout result', async () => {
    const { url } = await serve({ timeoutMs: 300, poolOptions: { interruptGraceMs: 200 } });
    const id: string = (await call(url, 'POST', '/v1/sessions', alice)).body.id;
    const run = await call(url, 'POST', `/v1/sessions/${id}/execute`, alice, { code: STUBBORN });
    expect(run.status).toBe(200);
    expect(run.body.status).toBe('timeout');
    expect(run.body.error.message).toContain('exceeded 300 ms and did not stop when interrupted; its process was killed');
    expect(isAlive(Number(run.body.stdout.trim()))).toBe(false);
    // The session went with its process: the next call says so, with the reason.
    const after = await call(url, 'POST', `/v1/sessions/${id}/execute`, alice, { code: '1' });
    expect(after.status).toBe(500);
    expect(after.body.error).toMatchObject({ code: 'session_died' });
    expect(after.body.error.message).toContain('ignored the interrupt');
  });

  it('applies the default deadline to one-shot runs too', async () => {
    const { url } = await serve({ timeoutMs: 300, poolOptions: { interruptGraceMs: 200 } });
    const run = await call(url, 'POST', '/v1/execute', bob, { code: STUBBORN });
    expect(run.body.status).toBe('timeout');
    expect(isAlive(Number(run.body.stdout.trim()))).toBe(false);
  });

  it('cuts a deadline longer than maxTimeoutMs to it', async () => {
    const { url } = await serve({ maxTimeoutMs: 300, poolOptions: { interruptGraceMs: 200 } });
    const run = await call(url, 'POST', '/v1/execute', bob, { code: 'import time\ntime.sleep(60)', timeoutMs: 600_000 });
    expect(run.body.status).toBe('timeout');
    expect(run.body.error.message).toContain('exceeded 300 ms and was interrupted');
  });

  it('escalates an explicit interrupt the code ignores: the process is killed and the client gets an interrupted result', async () => {
    const { url } = await serve({ poolOptions: { interruptGraceMs: 200 } });
    const id: string = (await call(url, 'POST', '/v1/sessions', alice)).body.id;
    const stream = await StreamClient.open(wsUrl(url, `/v1/sessions/${id}/stream`), alice);
    stream.send({ type: 'execute', id: 'stubborn', code: STUBBORN });
    const pid = Number((await stream.next((m) => m.type === 'output' && m.id === 'stubborn')).text.trim());
    expect((await call(url, 'POST', `/v1/sessions/${id}/interrupt`, alice)).status).toBe(202);
    const result = await stream.next((m) => m.type === 'result' && m.id === 'stubborn');
    expect(result.result.status).toBe('interrupted');
    expect(result.result.error.message).toContain('did not stop within 200 ms of its interrupt; its process was killed');
    expect(isAlive(pid)).toBe(false);
    await stream.close();
  });
});
