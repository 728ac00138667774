import { createInterface } from 'node:readline';
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { processesMentioning } from '../helpers/os.js';
import { call, refusedUpgrade, serve, TOKENS } from './helpers.js';
import { useBuiltCli } from './cli.js';

const startCliProcess = useBuiltCli();

/** A viewer of the inspector relay: every inspection event it has received, and a way to await one. */
class Viewer {
  readonly events: any[] = [];
  #waiters: { match: (e: any) => boolean; resolve: (e: any) => void }[] = [];
  readonly opened: Promise<void>;
  readonly closed: Promise<void>;

  constructor(
    url: string,
    readonly socket = new WebSocket(url),
  ) {
    this.opened = new Promise((resolveOpen, reject) => {
      socket.once('open', () => resolveOpen());
      socket.once('error', reject);
    });
    this.closed = new Promise((resolveClose) => socket.once('close', () => resolveClose()));
    socket.on('message', (data) => {
      const event = JSON.parse(String(data));
      this.events.push(event);
      this.#waiters = this.#waiters.filter((w) => {
        if (!w.match(event)) return true;
        w.resolve(event);
        return false;
      });
    });
  }

  next(match: (e: any) => boolean): Promise<any> {
    const seen = this.events.find(match);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolveNext) => this.#waiters.push({ match, resolve: resolveNext }));
  }
}

/** The supervisor's registration, a session actor's registration (a child of it), and a session's EXECUTE. */
async function expectPoolAndSessionEvents(viewer: Viewer, run: () => Promise<unknown>): Promise<void> {
  const pool = await viewer.next((e) => e.type === '@xstate.actor' && e.name === 'pool');
  const session = await viewer.next((e) => e.type === '@xstate.actor' && e.parentId === pool.sessionId && /^s\d+$/.test(e.name));
  expect(JSON.parse(session.definition).id).toBe('session');
  await viewer.next((e) => e.type === '@xstate.event' && e.sessionId === pool.sessionId && e.event.type === 'session.ready');
  await run();
  const execute = await viewer.next((e) => e.type === '@xstate.event' && e.event?.type === 'EXECUTE' && e.event.code === '6 * 7');
  expect(execute.sessionId).not.toBe(pool.sessionId);
  await viewer.next((e) => e.type === '@xstate.event' && e.sessionId === pool.sessionId && e.event.type === 'ACQUIRE');
}

describe('the inspector', () => {
  it("streams the supervisor's and the sessions' events to a client of its relay, and stops with the server", async () => {
    const server = await serve({ inspect: true });
    const inspector = server.inspector!;
    expect(inspector.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const page = await fetch(inspector.url);
    expect(await page.text()).toContain(inspector.wsUrl);

    const viewer = new Viewer(inspector.wsUrl);
    await viewer.opened;
    await expectPoolAndSessionEvents(viewer, async () => {
      const reply = await call(server.url, 'POST', '/v1/execute', TOKENS.alice, { code: '6 * 7' });
      expect(reply.body.value).toBe('42');
    });

    await server.close({ graceMs: 0 });
    await viewer.closed;
    await expect(fetch(inspector.url)).rejects.toThrow();
  });

  it('refuses viewers from a foreign web origin', async () => {
    const server = await serve({ inspect: true });
    const { wsUrl } = server.inspector!;
    const status = await refusedUpgrade(wsUrl, { origin: 'https://evil.example' });
    expect(status).toBe(403);
    const own = new Viewer(wsUrl, new WebSocket(wsUrl, { headers: { origin: server.inspector!.url } }));
    await own.opened;
    own.socket.close();
  });

  it('`pyrepl3 serve --inspect` prints the inspector URL, feeds it, and still exits 0 on SIGTERM with no Python left', {
    timeout: 30_000,
  }, async () => {
    const proc = startCliProcess(['serve', '--port', '0', '--inspect', '--min-idle', '1', '--max-sessions', '2', '--log-level', 'warn'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    proc.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
    const seen: Record<string, string> = {};
    await new Promise<void>((done, fail) => {
      createInterface({ input: proc.stdout! }).on('line', (line) => {
        const m = /^(listening on|pool:|token:|inspector:) (\S+)/.exec(line);
        if (m) seen[m[1]!] = m[2]!;
        if (['listening on', 'pool:', 'token:', 'inspector:'].every((k) => seen[k] !== undefined)) done();
      });
      void exited.then((code) => fail(new Error(`serve exited early with ${code}: ${stderr}`)));
    });
    const inspectorUrl = seen['inspector:']!;
    expect(inspectorUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const viewer = new Viewer(inspectorUrl.replace(/^http/, 'ws'));
    await viewer.opened;
    await expectPoolAndSessionEvents(viewer, async () => {
      const reply = await call(seen['listening on']!, 'POST', '/v1/execute', seen['token:']!, { code: '6 * 7' });
      expect(reply.body.value).toBe('42');
    });

    proc.kill('SIGTERM');
    expect(await exited).toBe(0);
    await viewer.closed;
    expect(processesMentioning(seen['pool:']!)).toEqual([]);
  });
});
