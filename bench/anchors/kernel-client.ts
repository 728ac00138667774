import { randomUUID } from 'node:crypto';
import WebSocket from 'ws';

interface Frame {
  channel?: string;
  msg_type: string;
  parent_header: { msg_id?: string };
  content: { execution_state?: string };
}

/**
 * A Jupyter kernel as a client of the kernels API sees it, for timing: the REST calls and one
 * kernel WebSocket in the JSON protocol, the same for PyREPL3 and for Jupyter Server. A request is
 * done when its reply and its iopub `idle` have both arrived, as JupyterLab counts it.
 */
export class KernelClient {
  #pending: { msgId: string; replied: boolean; idle: boolean; done: () => void } | null = null;

  private constructor(
    private readonly baseUrl: string,
    private readonly token: string,
    readonly id: string,
    private readonly socket: WebSocket,
  ) {
    socket.on('message', (data: Buffer) => this.#onFrame(JSON.parse(data.toString('utf8')) as Frame));
  }

  /** POST /api/kernels, the WebSocket, and the kernel_info round trip: a kernel ready for work. */
  static async start(baseUrl: string, token: string): Promise<KernelClient> {
    const headers = { authorization: `token ${token}`, 'content-type': 'application/json' };
    const response = await fetch(`${baseUrl}/api/kernels`, { method: 'POST', headers, body: JSON.stringify({ name: 'python3' }) });
    if (response.status !== 201) throw new Error(`POST /api/kernels answered ${response.status}`);
    const { id } = (await response.json()) as { id: string };
    const socket = new WebSocket(`${baseUrl.replace(/^http/, 'ws')}/api/kernels/${id}/channels`, { headers });
    // The client's small frames must not wait for Nagle's algorithm, whichever server it talks to.
    socket.once('upgrade', (response) => response.socket.setNoDelay(true));
    await new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve());
      socket.once('error', reject);
    });
    const client = new KernelClient(baseUrl, token, id, socket);
    await client.request('kernel_info_request', {});
    return client;
  }

  execute(code: string): Promise<void> {
    return this.request('execute_request', {
      code,
      silent: false,
      store_history: false,
      user_expressions: {},
      allow_stdin: false,
      stop_on_error: true,
    });
  }

  request(msgType: string, content: Record<string, unknown>): Promise<void> {
    const msgId = randomUUID();
    const header = {
      msg_id: msgId,
      msg_type: msgType,
      username: 'bench',
      session: 'bench',
      date: new Date().toISOString(),
      version: '5.3',
    };
    return new Promise((resolve) => {
      this.#pending = { msgId, replied: false, idle: false, done: resolve };
      this.socket.send(JSON.stringify({ channel: 'shell', header, parent_header: {}, metadata: {}, content, buffers: [] }));
    });
  }

  /** Closes the socket and deletes the kernel. */
  async shutdown(): Promise<void> {
    this.socket.close();
    await fetch(`${this.baseUrl}/api/kernels/${this.id}`, { method: 'DELETE', headers: { authorization: `token ${this.token}` } });
  }

  #onFrame(frame: Frame): void {
    const pending = this.#pending;
    if (pending === null || frame.parent_header.msg_id !== pending.msgId) return;
    if (frame.channel === 'iopub') pending.idle ||= frame.msg_type === 'status' && frame.content.execution_state === 'idle';
    else pending.replied = true;
    if (pending.replied && pending.idle) {
      this.#pending = null;
      pending.done();
    }
  }
}
