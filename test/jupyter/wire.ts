import { randomUUID } from 'node:crypto';
import WebSocket from 'ws';

/** A message as the kernel WebSocket carries it. */
export interface WireMessage {
  channel: string;
  msg_id: string;
  msg_type: string;
  header: { msg_id: string; msg_type: string; version: string; session: string; username: string; date: string };
  parent_header: { msg_id?: string };
  content: Record<string, unknown>;
}

interface Waiter {
  match: (m: WireMessage) => boolean;
  resolve: (m: WireMessage) => void;
}

/**
 * A bare kernel WebSocket client, for what the real clients do not show: every frame it got,
 * and frames it sends shaped as jupyter_server's gateway client shapes them (no channel, float date).
 */
export class KernelWire {
  readonly received: WireMessage[] = [];
  readonly #waiters: Waiter[] = [];
  /** Resolves when the server (or the test) closed the socket. */
  readonly closed: Promise<void>;

  private constructor(private readonly socket: WebSocket) {
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
    socket.on('message', (data: Buffer) => {
      const message = JSON.parse(data.toString('utf8')) as WireMessage;
      this.received.push(message);
      for (const waiter of this.#waiters.filter((w) => w.match(message))) {
        this.#waiters.splice(this.#waiters.indexOf(waiter), 1);
        waiter.resolve(message);
      }
    });
  }

  static async open(baseUrl: string, kernelId: string, token: string): Promise<KernelWire> {
    const socket = new WebSocket(`${baseUrl.replace(/^http/, 'ws')}/api/kernels/${kernelId}/channels`, {
      headers: { authorization: `token ${token}` },
    });
    await new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve());
      socket.once('error', reject);
    });
    return new KernelWire(socket);
  }

  /** Sends a request; `channel` undefined sends none (it means shell). Returns its msg_id. */
  send(msgType: string, content: Record<string, unknown>, channel?: string): string {
    const msgId = randomUUID();
    const header = { msg_id: msgId, msg_type: msgType, username: 'test', session: 'wire', date: Date.now() / 1000, version: '5.3' };
    this.socket.send(
      JSON.stringify({ header, parent_header: {}, metadata: {}, content, buffers: [], ...(channel !== undefined ? { channel } : {}) }),
    );
    return msgId;
  }

  execute(code: string, extra: Record<string, unknown> = {}): string {
    return this.send('execute_request', {
      code,
      silent: false,
      store_history: true,
      user_expressions: {},
      allow_stdin: false,
      stop_on_error: true,
      ...extra,
    });
  }

  /** The first message, received or to come, that matches. */
  next(match: (m: WireMessage) => boolean): Promise<WireMessage> {
    const seen = this.received.find(match);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve) => this.#waiters.push({ match, resolve }));
  }

  reply(msgId: string): Promise<WireMessage> {
    return this.next((m) => m.channel !== 'iopub' && m.parent_header.msg_id === msgId);
  }

  idle(msgId: string): Promise<WireMessage> {
    return this.next((m) => m.msg_type === 'status' && m.content.execution_state === 'idle' && m.parent_header.msg_id === msgId);
  }

  iopub(msgId: string): WireMessage[] {
    return this.received.filter((m) => m.channel === 'iopub' && m.parent_header.msg_id === msgId);
  }

  close(): void {
    this.socket.close();
  }
}
