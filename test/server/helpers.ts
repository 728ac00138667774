import { afterEach } from 'vitest';
import WebSocket from 'ws';
import pino from 'pino';
import { startServer, type ServerOptions, type StartedServer } from '../../src/server/index.js';

export const TOKENS = {
  alice: 'alice-token-0123456789',
  bob: 'bob-token-0123456789',
  carol: 'carol-token-0123456789',
} as const;

const servers: StartedServer[] = [];

/**
 * A server on 127.0.0.1, port 0, closed after the test whatever the test did; with the tenants of
 * TOKENS unless `generatedToken` asks for the server's own random admin token instead.
 */
export async function serve(options: ServerOptions & { generatedToken?: true } = {}): Promise<StartedServer> {
  const { generatedToken, ...serverOptions } = options;
  const tokens = [
    { token: TOKENS.alice, tenant: 'alice', maxSessions: 4 },
    { token: TOKENS.bob, tenant: 'bob' },
    { token: TOKENS.carol, tenant: 'carol', maxSessions: 1 },
  ];
  const server = await startServer({
    host: '127.0.0.1',
    port: 0,
    logger: pino({ level: process.env.PYREPL3_TEST_LOG ?? 'silent' }),
    ...(generatedToken ? {} : { tokens }),
    shutdownGraceMs: 2_000,
    ...serverOptions,
    poolOptions: { minIdle: 1, maxSessions: 4, healthCheckIntervalMs: 0, ...serverOptions.poolOptions },
  });
  servers.push(server);
  return server;
}

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close({ graceMs: 0 })));
});

export interface Reply {
  status: number;
  body: any;
  headers: Headers;
}

/** A JSON request; `token` null sends no Authorization header. */
export async function call(
  url: string,
  method: string,
  path: string,
  token: string | null,
  body?: unknown,
  init: { rawBody?: string } = {},
): Promise<Reply> {
  const headers: Record<string, string> = {};
  if (token !== null) headers.authorization = `Bearer ${token}`;
  const payload = init.rawBody ?? (body !== undefined ? JSON.stringify(body) : undefined);
  if (payload !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(url + path, { method, headers, ...(payload !== undefined ? { body: payload } : {}) });
  const text = await response.text();
  let parsed: unknown = text;
  try {
    parsed = text === '' ? null : JSON.parse(text);
  } catch {
    // Not JSON (metrics).
  }
  return { status: response.status, body: parsed, headers: response.headers };
}

export function wsUrl(url: string, path: string): string {
  return url.replace(/^http/, 'ws') + path;
}

/** A WebSocket client that queues every message, so a test can await them in order. */
export class StreamClient {
  readonly messages: any[] = [];
  #waiters: { match: (m: any) => boolean; resolve: (m: any) => void }[] = [];
  readonly opened: Promise<void>;
  readonly closed: Promise<void>;

  constructor(readonly socket: WebSocket) {
    this.opened = new Promise((resolve, reject) => {
      socket.once('open', () => resolve());
      socket.once('error', reject);
      socket.once('unexpected-response', (_req, res) => reject(new Error(`unexpected response ${res.statusCode}`)));
    });
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
    socket.on('message', (data) => {
      const message = JSON.parse(String(data));
      this.messages.push(message);
      this.#waiters = this.#waiters.filter((w) => {
        if (!w.match(message)) return true;
        w.resolve(message);
        return false;
      });
    });
  }

  static async open(url: string, token: string | null, viaQuery = false): Promise<StreamClient> {
    const full = viaQuery && token !== null ? `${url}?token=${encodeURIComponent(token)}` : url;
    const headers = !viaQuery && token !== null ? { authorization: `Bearer ${token}` } : undefined;
    const client = new StreamClient(new WebSocket(full, headers ? { headers } : {}));
    await client.opened;
    return client;
  }

  send(message: unknown): void {
    this.socket.send(JSON.stringify(message));
  }

  /** The first message (already received or still to come) matching `match`. */
  next(match: (m: any) => boolean): Promise<any> {
    const seen = this.messages.find(match);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve) => this.#waiters.push({ match, resolve }));
  }

  close(): Promise<void> {
    this.socket.close();
    return this.closed;
  }
}

/** The HTTP status with which a WebSocket upgrade was refused. */
export function refusedUpgrade(url: string, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, { headers });
    socket.once('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      socket.terminate();
    });
    socket.once('open', () => {
      socket.close();
      reject(new Error('upgrade was accepted'));
    });
    socket.once('error', (error) => reject(error));
  });
}

/** Waits for a condition that an event outside our reach will make true; the bound only catches hangs. */
export async function until(condition: () => Promise<boolean> | boolean, boundMs = 10_000): Promise<void> {
  const deadline = Date.now() + boundMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
