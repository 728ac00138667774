import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import WebSocket from 'ws';
import { describe, expect, it } from 'vitest';
import { ApiError, Client, ROUTES, type WebSocketConstructor } from '../../src/client/index.js';
import { ROOT } from './cli.js';
import { call, serve, TOKENS } from './helpers.js';

const { alice, carol } = TOKENS;
// Node 20 has no global WebSocket: the client takes the ws package's.
const client = (url: string, token: string = alice): Client =>
  new Client({ url, token, WebSocket: WebSocket as unknown as WebSocketConstructor });

async function apiError(promise: Promise<unknown>): Promise<ApiError> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ApiError);
  return error as ApiError;
}

describe('the typed client (pyrepl3/client)', () => {
  it('creates a session, streams output, keeps state, moves files, interrupts and closes', async () => {
    const { url, registry } = await serve();
    const session = await client(url).createSession();
    const chunks: string[] = [];
    const first = await session.execute('x = 41\nfor i in range(3): print(i)', {
      onOutput: (chunk) => chunks.push(chunk.type === 'stream' ? chunk.text : ''),
    });
    expect(first).toMatchObject({ status: 'ok', stdout: '0\n1\n2\n' });
    expect(chunks.join('')).toBe('0\n1\n2\n');
    expect((await session.execute('x + 1')).value).toBe('42');
    expect((await session.execute('1 / 0')).error?.name).toBe('ZeroDivisionError');

    await session.writeFile('dir/in.txt', 'hello');
    expect((await session.execute('open("dir/in.txt").read().upper()')).value).toBe("'HELLO'");
    await session.execute('open("out.bin", "wb").write(bytes([0, 255, 1]))');
    expect([...(await session.readFile('out.bin'))]).toEqual([0, 255, 1]);
    expect((await apiError(session.readFile('../x'))).code).toBe('invalid_path');

    const controller = new AbortController();
    const running = session.execute('import time\nprint("go", flush=True)\ntime.sleep(30)', {
      signal: controller.signal,
      onOutput: () => controller.abort(),
    });
    expect((await running).status).toBe('interrupted');

    await session.close();
    expect(registry.size).toBe(0);
  });

  it('runs one-shots, and its errors carry the service code and status', async () => {
    const { url } = await serve();
    expect((await client(url).execute('6 * 7')).value).toBe('42');
    const unauthorized = await apiError(client(url, 'wrong-token-123').execute('1'));
    expect(unauthorized).toMatchObject({ code: 'unauthorized', status: 401 });
    await client(url, carol).createSession();
    const quota = await apiError(client(url, carol).createSession());
    expect(quota).toMatchObject({ code: 'quota_exceeded', status: 429, retryAfter: 1 });
    const gone = client(url).session('no-such-session');
    expect((await apiError(gone.writeFile('a', 'b'))).status).toBe(404);
  });

  it('reconnects by itself when its stream drops mid-execution: every output exactly once, in order', async () => {
    const server = await serve();
    const session = await client(server.url).createSession();
    const chunks: string[] = [];
    let dropped = false;
    const result = await session.execute('import time\nfor i in range(100):\n    print(i, flush=True)\n    time.sleep(0.005)', {
      onOutput: (chunk) => {
        const text = chunk.type === 'stream' ? chunk.text : '';
        chunks.push(text);
        // Cut every connection of the server once, mid-execution, as a network would.
        if (!dropped && text.includes('10')) {
          dropped = true;
          for (const socket of server.app.websocketServer.clients) socket.terminate();
        }
      },
    });
    expect(dropped).toBe(true);
    const expected = Array.from({ length: 100 }, (_, i) => `${i}\n`).join('');
    expect(chunks.join('')).toBe(expected);
    expect(result).toMatchObject({ status: 'ok', stdout: expected, truncated: false });
    await session.close();
  });

  it('agrees with /openapi.json: every route it uses exists there with the status it expects', async () => {
    const { url } = await serve();
    const doc = (await call(url, 'GET', '/openapi.json', null)).body;
    for (const [name, route] of Object.entries(ROUTES)) {
      const operation = doc.paths[route.path]?.[route.method.toLowerCase()];
      expect(operation, `${name}: ${route.method} ${route.path}`).toBeDefined();
      expect(Object.keys(operation.responses), name).toContain(String(route.ok));
    }
    expect(doc.components.schemas.Error.properties.error.required).toEqual(['code', 'message']);
  });

  it('imports no server code, only the library types', () => {
    const dir = join(ROOT, 'src/client');
    for (const file of readdirSync(dir)) {
      const imports = [...readFileSync(join(dir, file), 'utf8').matchAll(/^(import|export) .* from '([^']+)';$/gm)];
      for (const [line, , from] of imports) {
        expect(
          from!.startsWith('./') || ((line.startsWith('import type') || line.startsWith('export type')) && from === '../types.js'),
          `${file}: ${line}`,
        ).toBe(true);
      }
    }
  });
});
