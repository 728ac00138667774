import { once } from 'node:events';
import { readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { useBuiltCli } from './cli.js';
import { call, serve, StreamClient, TOKENS, until, wsUrl } from './helpers.js';

const { alice, bob } = TOKENS;
const MiB = 1024 * 1024;

/** Code that writes `mib` MiB to stdout. */
const flood = (mib: number): string =>
  `import sys\nchunk = 'x' * (1 << 20)\nfor _ in range(${mib}): sys.stdout.write(chunk)\nsys.stdout.flush()`;

/** The process's peak resident memory so far, from the OS. */
function peakRss(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('VmHWM:'))!;
  return Number(/\d+/.exec(line)![0]) * 1024;
}

describe('backpressure', () => {
  const start = useBuiltCli();

  it('a paused client through 20 executions of 60 MiB: the server stays within +256 MiB, and another tenant keeps working', async () => {
    const tokensFile = join(tmpdir(), `pyrepl3-tokens-${process.pid}.json`);
    writeFileSync(
      tokensFile,
      JSON.stringify([
        { token: alice, tenant: 'alice' },
        { token: bob, tenant: 'bob' },
      ]),
    );
    const server = start([
      'serve',
      '--port',
      '0',
      '--tokens',
      tokensFile,
      '--min-idle',
      '2',
      '--stream-stuck-ms',
      '600000',
      '--log-level',
      'warn',
    ]);
    const [line] = (await once(server.stdout!, 'data')) as [Buffer];
    const url = /listening on (\S+)/.exec(String(line))![1]!;
    const id: string = (await call(url, 'POST', '/v1/sessions', alice)).body.id;
    const paused = await StreamClient.open(wsUrl(url, `/v1/sessions/${id}/stream`), alice);
    paused.socket.pause();
    expect((await call(url, 'POST', '/v1/execute', bob, { code: '1 + 1' })).body.value).toBe('2');
    const before = peakRss(server.pid!);

    let working = true;
    const other = (async () => {
      let answered = 0;
      while (working) {
        expect((await call(url, 'POST', '/v1/execute', bob, { code: '1 + 1' })).body.value).toBe('2');
        answered++;
      }
      return answered;
    })();
    for (let i = 0; i < 20; i++) {
      paused.send({ type: 'execute', id: `e${i}`, code: flood(60) });
      await until(async () => (await call(url, 'GET', `/v1/sessions/${id}/executions/e${i}`, alice)).body.status === 'done', 60_000);
    }
    working = false;
    expect(await other).toBeGreaterThan(0);
    const growth = peakRss(server.pid!) - before;
    console.info(`paused client, 20 x 60 MiB: peak RSS grew ${(growth / MiB).toFixed(1)} MiB`);
    expect(growth).toBeLessThan(256 * MiB);
    paused.socket.terminate();
    server.kill('SIGTERM');
    await once(server, 'exit');
  }, 300_000);

  it('closes a client that stays stuck with code 4001; the execution goes on without it', async () => {
    const server = await serve({ streamBufferBytes: MiB, streamStuckMs: 500, streamLogChars: MiB });
    const { url } = server;
    const id: string = (await call(url, 'POST', '/v1/sessions', alice)).body.id;
    const stuck = await StreamClient.open(wsUrl(url, `/v1/sessions/${id}/stream`), alice);
    stuck.socket.pause();
    stuck.send({ type: 'execute', id: 'big', code: flood(30) });
    // The server decides on its own; the test can only watch it happen.
    await until(() => [...server.app.websocketServer.clients].some((c) => c.readyState === c.CLOSING), 30_000);
    stuck.socket.resume();
    const [code] = (await once(stuck.socket, 'close')) as [number];
    expect(code).toBe(4001);
    // The execution went on without its client, and its result was kept.
    await until(async () => (await call(url, 'GET', `/v1/sessions/${id}/executions/big`, alice)).body.status === 'done', 30_000);
  });
});
