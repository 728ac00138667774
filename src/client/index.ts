/**
 * The typed client of the PyREPL3 service: `import { Client } from 'pyrepl3/client'`. It imports
 * no server code and needs only fetch and WebSocket (browsers, Node 22; in Node 20, pass the `ws`
 * package's WebSocket).
 */
import type { ExecutionResult } from '../types.js';
import { ApiError } from './errors.js';
import { HttpTransport } from './http.js';
import { pathOf } from './routes.js';
import { RemoteSession } from './session.js';
import { SessionStream, type ReconnectOptions, type WebSocketConstructor } from './stream.js';

export { ApiError } from './errors.js';
export { ROUTES, type RouteName } from './routes.js';
export { RemoteSession, type RemoteExecuteOptions } from './session.js';
export type { ReconnectOptions, WebSocketConstructor, WebSocketLike } from './stream.js';
export type { ExecutionResult, OutputChunk, PythonError } from '../types.js';

export interface ClientOptions {
  /** The service's base URL, e.g. http://127.0.0.1:8000. */
  url: string;
  token: string;
  /** Default: globalThis.WebSocket (browsers, Node 22+). In Node 20: `import WebSocket from 'ws'`. */
  WebSocket?: WebSocketConstructor;
  /** Default: globalThis.fetch. */
  fetch?: typeof fetch;
  reconnect?: Partial<ReconnectOptions>;
}

export class Client {
  readonly #http: HttpTransport;
  readonly #options: ClientOptions;

  constructor(options: ClientOptions) {
    this.#options = options;
    this.#http = new HttpTransport(options.url.replace(/\/+$/, ''), options.token, options.fetch ?? globalThis.fetch.bind(globalThis));
  }

  /** A new named session owned by the token's tenant. */
  async createSession(): Promise<RemoteSession> {
    const { id } = await this.#http.json<{ id: string }>('createSession');
    return this.session(id);
  }

  /** A handle on an existing named session (for instance one created by another process). */
  session(id: string): RemoteSession {
    const WebSocketImpl = this.#options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    if (WebSocketImpl === undefined) throw new TypeError('no WebSocket: pass the ws package as options.WebSocket (Node 20)');
    // Browsers cannot set headers on a WebSocket: the stream takes the token as a query parameter.
    const url = `${this.#http.baseUrl.replace(/^http/, 'ws')}${pathOf('stream', { id })}?token=${encodeURIComponent(this.#options.token)}`;
    const reconnect = { attempts: 5, delayMs: 100, ...this.#options.reconnect };
    return new RemoteSession(id, this.#http, new SessionStream(url, WebSocketImpl, reconnect, () => this.#goneFor(id)));
  }

  /**
   * After a dropped stream, what GET /v1/sessions/:id says: 410, 404 or session_died, the session is gone for good; anything else, retry.
   */
  async #goneFor(id: string): Promise<ApiError | null> {
    try {
      await this.#http.json('getSession', { params: { id } });
      return null;
    } catch (error) {
      return error instanceof ApiError && (error.status === 410 || error.status === 404 || error.code === 'session_died') ? error : null;
    }
  }

  /** A one-shot run in a fresh session, destroyed afterwards. */
  async execute(code: string, options: { timeoutMs?: number } = {}): Promise<ExecutionResult> {
    return this.#http.json<ExecutionResult>('oneShot', { json: { code, ...options } });
  }
}
