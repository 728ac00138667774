import { randomUUID } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KernelMessage } from '@jupyterlab/services';
import { deserialize, serialize } from '@jupyterlab/services/lib/kernel/serialize.js';
import pino from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import { serve, TOKENS } from '../server/helpers.js';
import { DEBIAN_PYTHON } from './helpers.js';
import { KernelWire } from './wire.js';

const V1 = KernelMessage.supportedKernelWebSocketProtocols.v1KernelWebsocketJupyterOrg;

const wires: KernelWire[] = [];
const flags: string[] = [];
afterEach(() => {
  for (const wire of wires.splice(0)) wire.close();
  for (const flag of flags.splice(0)) rmSync(flag, { force: true });
});

async function api(url: string, method: string, path: string, token: string | null = TOKENS.alice) {
  const response = await fetch(url + path, { method, headers: token === null ? {} : { authorization: `token ${token}` } });
  const text = await response.text();
  return { status: response.status, body: text === '' ? null : (JSON.parse(text) as Record<string, unknown>) };
}

async function kernelWith(url: string, sockets = 1): Promise<{ id: string; wires: KernelWire[] }> {
  const created = await api(url, 'POST', '/api/kernels');
  const id = String(created.body!.id);
  const opened = await Promise.all(Array.from({ length: sockets }, () => KernelWire.open(url, id, TOKENS.alice)));
  wires.push(...opened);
  return { id, wires: opened };
}

/** A cell that runs until the test creates a file: the test decides when it ends, no timing involved. */
function blockingCell(then = ''): { code: string; release: () => void } {
  const flag = join(tmpdir(), `pyrepl3-jupyter-${randomUUID()}`);
  flags.push(flag);
  const code = `import os, time\nwhile not os.path.exists(${JSON.stringify(flag)}): time.sleep(0.005)\n${then}`;
  return { code, release: () => writeFileSync(flag, '') };
}

describe('the kernel WebSocket protocol', () => {
  it('wraps every request in busy … idle with 5.3 headers; a frame without channel and a float date is shell', async () => {
    const server = await serve();
    const {
      wires: [wire],
    } = await kernelWith(server.url);
    const id = wire!.send('kernel_info_request', {});
    const reply = await wire!.reply(id);
    await wire!.idle(id);
    expect(reply).toMatchObject({ channel: 'shell', msg_type: 'kernel_info_reply', content: { status: 'ok', protocol_version: '5.3' } });
    expect(reply.msg_id).toBe(reply.header.msg_id);
    expect(reply.header.version).toBe('5.3');
    expect((reply.content.language_info as { version: string }).version).toMatch(/^3\.\d+\.\d+$/);
    expect(wire!.iopub(id).map((m) => m.content.execution_state)).toEqual(['busy', 'idle']);
  });

  it('queues requests of every socket behind a running cell, never refusing; iopub reaches every socket, replies only the asker', async () => {
    const server = await serve();
    const {
      wires: [a, b],
    } = await kernelWith(server.url, 2);
    const cell = blockingCell('x = 20');
    const first = a!.execute(cell.code);
    await b!.next((m) => m.msg_type === 'execute_input' && m.parent_header.msg_id === first);
    const second = b!.execute('x * 2 + 2');
    const third = a!.send('complete_request', { code: 'x.bit_len', cursor_pos: 9 });
    cell.release();
    const [firstReply, secondReply, completion] = await Promise.all([a!.reply(first), b!.reply(second), a!.reply(third)]);
    expect(firstReply.content).toMatchObject({ status: 'ok', execution_count: 1 });
    expect(secondReply.content).toMatchObject({ status: 'ok', execution_count: 2 });
    expect(completion.content).toMatchObject({ status: 'ok', matches: ['x.bit_length'] });
    await a!.idle(second);
    expect(a!.iopub(second).map((m) => m.msg_type)).toEqual(['status', 'execute_input', 'execute_result', 'status']);
    expect(a!.received.some((m) => m.channel === 'shell' && m.parent_header.msg_id === second)).toBe(false);
  });

  it('aborts executions queued behind a failure with stop_on_error, and runs them without it', async () => {
    const server = await serve();
    const {
      wires: [wire],
    } = await kernelWith(server.url);
    const cell = blockingCell('raise ValueError("stop")');
    const failing = wire!.execute(cell.code);
    await wire!.next((m) => m.msg_type === 'execute_input');
    const aborted = wire!.execute('y = 1');
    cell.release();
    expect((await wire!.reply(failing)).content).toMatchObject({ status: 'error', ename: 'ValueError' });
    expect((await wire!.reply(aborted)).content).toMatchObject({ status: 'aborted' });
    const check = wire!.execute("'y' in globals()", { stop_on_error: false });
    await wire!.idle(check);
    expect(wire!.iopub(check).find((m) => m.msg_type === 'execute_result')?.content.data).toEqual({ 'text/plain': 'False' });
  });

  it("completes with jedi when the session's Python has it (Debian's python3-jedi), with rlcompleter otherwise", async () => {
    const withJedi = await serve({ poolOptions: { pythonPath: DEBIAN_PYTHON } });
    const {
      wires: [wire],
    } = await kernelWith(withJedi.url);
    // Attributes of a literal: jedi knows them, rlcompleter only completes names.
    const literal = wire!.send('complete_request', { code: 'x = "abc".up', cursor_pos: 12 });
    expect((await wire!.reply(literal)).content).toMatchObject({ status: 'ok', matches: ['upper'], cursor_start: 10, cursor_end: 12 });
    // Without jedi (an import of it fails), rlcompleter: names and attributes of names only.
    await wire!.reply(wire!.execute('import os, sys\nsys.modules["jedi"] = None'));
    const fallback = wire!.send('complete_request', { code: 'x = "abc".up', cursor_pos: 12 });
    expect((await wire!.reply(fallback)).content).toMatchObject({ status: 'ok', matches: [] });
    const name = wire!.send('complete_request', { code: 'os.pa', cursor_pos: 5 });
    expect((await wire!.reply(name)).content).toMatchObject({ matches: expect.arrayContaining(['os.path']), cursor_start: 0 });
  });

  it('interrupts a running cell on the control channel', async () => {
    const server = await serve();
    const {
      wires: [wire],
    } = await kernelWith(server.url);
    // The interrupt is sent once the cell says it runs: one that reaches the worker before the code starts is dropped.
    const running = wire!.execute('print("running", flush=True)\nwhile True: pass');
    await wire!.next((m) => m.msg_type === 'stream');
    const interrupt = wire!.send('interrupt_request', {}, 'control');
    expect(await wire!.reply(interrupt)).toMatchObject({ channel: 'control', content: { status: 'ok' } });
    expect((await wire!.reply(running)).content).toMatchObject({ status: 'error', ename: 'KeyboardInterrupt' });
  });

  it('a kernel whose process dies mid-cell answers that cell and the queued ones with an error, then says dead at once', async () => {
    const server = await serve();
    const {
      id,
      wires: [wire],
    } = await kernelWith(server.url);
    const dying = wire!.execute('import os\nos._exit(3)');
    const queued = wire!.execute('1 + 1');
    const [dyingReply, queuedReply] = await Promise.all([wire!.reply(dying), wire!.reply(queued)]);
    expect(dyingReply.content).toMatchObject({
      status: 'error',
      ename: 'SessionDiedError',
      evalue: expect.stringContaining('exited with code 3'),
    });
    expect(queuedReply.content).toMatchObject({ status: 'error', ename: 'SessionDiedError' });
    expect(wire!.iopub(dying).map((m) => m.msg_type)).toEqual(['status', 'execute_input', 'error', 'status']);
    await wire!.next((m) => m.msg_type === 'status' && m.content.execution_state === 'dead');
    // Later requests are answered at once too, and the REST model says dead until DELETE.
    const late = wire!.send('kernel_info_request', {});
    expect((await wire!.reply(late)).content).toMatchObject({ status: 'error' });
    expect((await api(server.url, 'GET', `/api/kernels/${id}`)).body).toMatchObject({ execution_state: 'dead' });
    expect((await api(server.url, 'DELETE', `/api/kernels/${id}`)).status).toBe(204);
    expect((await api(server.url, 'GET', `/api/kernels/${id}`)).status).toBe(404);
  });

  it('a dead kernel can be restarted; one left dead is forgotten after 5 minutes, its sockets closed', async () => {
    const server = await serve();
    const {
      id,
      wires: [wire],
    } = await kernelWith(server.url);
    const minutesLater = (minutes: number) => vi.setSystemTime(Date.now() + minutes * 60_000);
    // Only the clock read for kernel deaths moves: the pool's timers run as ever.
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      await wire!.reply(wire!.execute('import os\nos._exit(3)'));
      expect((await api(server.url, 'POST', `/api/kernels/${id}/restart`)).body).toMatchObject({ id, execution_state: 'idle' });
      expect((await wire!.reply(wire!.execute('6 * 7'))).content).toMatchObject({ status: 'ok', execution_count: 1 });
      minutesLater(6); // alive again: its first death no longer counts
      expect((await api(server.url, 'GET', `/api/kernels/${id}`)).body).toMatchObject({ execution_state: 'idle' });
      await wire!.reply(wire!.execute('import os\nos._exit(3)'));
      minutesLater(4);
      expect((await api(server.url, 'GET', `/api/kernels/${id}`)).body).toMatchObject({ execution_state: 'dead' });
      minutesLater(2);
      expect((await api(server.url, 'GET', `/api/kernels/${id}`)).status).toBe(404);
    } finally {
      vi.useRealTimers();
    }
    await wire!.closed;
  });

  it('a culled kernel tells its sockets it is dead', async () => {
    const server = await serve({ idleTimeoutMs: 200 });
    const {
      wires: [wire],
    } = await kernelWith(server.url);
    await wire!.next((m) => m.msg_type === 'status' && m.content.execution_state === 'dead');
    expect(server.registry.size).toBe(0);
  });

  it('restart puts a fresh session behind the same id; shutdown_request on control ends the kernel', async () => {
    const server = await serve();
    const {
      id,
      wires: [wire],
    } = await kernelWith(server.url);
    await wire!.reply(wire!.execute('x = 1'));
    const restarted = await api(server.url, 'POST', `/api/kernels/${id}/restart`);
    expect(restarted).toMatchObject({ status: 200, body: { id, execution_state: 'idle' } });
    expect(server.registry.size).toBe(1); // the old session went
    const after = wire!.execute('x');
    expect((await wire!.reply(after)).content).toMatchObject({ status: 'error', ename: 'NameError', execution_count: 1 });
    const shutdown = wire!.send('shutdown_request', { restart: false }, 'control');
    expect((await wire!.reply(shutdown)).content).toEqual({ status: 'ok', restart: false });
    await wire!.next((m) => m.msg_type === 'status' && m.content.execution_state === 'dead');
    await wire!.closed;
    expect((await api(server.url, 'GET', `/api/kernels/${id}`)).status).toBe(404);
  });
});

describe('the v1.kernel.websocket.jupyter.org subprotocol', () => {
  it('is selected for a client that asks for it, in binary frames that @jupyterlab/services’ own serializer reads and writes', async () => {
    const server = await serve();
    const { id } = (await api(server.url, 'POST', '/api/kernels')).body as { id: string };
    const socket = new WebSocket(`${server.url.replace(/^http/, 'ws')}/api/kernels/${id}/channels?token=${TOKENS.alice}`, [V1]);
    const received: KernelMessage.IMessage[] = [];
    const replied = new Promise<void>((resolve) => {
      socket.on('message', (data: Buffer, isBinary: boolean) => {
        expect(isBinary).toBe(true);
        received.push(deserialize(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength) as ArrayBuffer, V1));
        if (received.at(-1)!.header.msg_type === 'execute_reply') resolve();
      });
    });
    await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
    expect(socket.protocol).toBe(V1);
    const request = KernelMessage.createMessage({
      msgType: 'execute_request',
      channel: 'shell',
      session: 'v1-test',
      content: { code: '6 * 7' },
    });
    socket.send(serialize(request, V1));
    await replied;
    socket.close();
    const result = received.find((m) => m.header.msg_type === 'execute_result');
    expect(result).toMatchObject({
      channel: 'iopub',
      parent_header: { msg_id: request.header.msg_id },
      content: { data: { 'text/plain': '42' } },
    });
  });
});

describe('the kernels REST API', () => {
  it('authenticates by token or Bearer header or ?token=, scopes kernels to the tenant, and answers in Jupyter Server’s error shape', async () => {
    const server = await serve();
    expect((await api(server.url, 'GET', '/api/kernels', null)).status).toBe(403);
    const created = await api(server.url, 'POST', '/api/kernels');
    expect(created.status).toBe(201);
    expect(Object.keys(created.body!).sort()).toEqual(['connections', 'execution_state', 'id', 'last_activity', 'name']);
    const id = String(created.body!.id);
    const bearer = await fetch(`${server.url}/api/kernels/${id}`, { headers: { authorization: `Bearer ${TOKENS.alice}` } });
    expect(bearer.status).toBe(200);
    expect((await fetch(`${server.url}/api/kernels?token=${TOKENS.alice}`)).status).toBe(200);
    expect(await api(server.url, 'GET', `/api/kernels/${id}`, TOKENS.bob)).toEqual({
      status: 404,
      body: { message: `Kernel does not exist: ${id}`, reason: null },
    });
    expect((await api(server.url, 'GET', '/api/kernels', TOKENS.bob)).body).toEqual([]);
    expect((await api(server.url, 'POST', `/api/kernels/${id}/interrupt`)).status).toBe(204);
    expect((await api(server.url, 'GET', '/api/kernelspecs')).body).toMatchObject({
      default: 'python3',
      kernelspecs: { python3: { name: 'python3' } },
    });
    expect((await api(server.url, 'GET', '/api/kernelspecs/python3')).status).toBe(200);
    expect((await api(server.url, 'GET', '/api/kernelspecs/julia')).status).toBe(404);
  });

  it('counts kernels against the tenant’s quota', async () => {
    const server = await serve();
    expect((await api(server.url, 'POST', '/api/kernels', TOKENS.carol)).status).toBe(201);
    expect(await api(server.url, 'POST', '/api/kernels', TOKENS.carol)).toMatchObject({ status: 429, body: { reason: 'quota_exceeded' } });
  });

  it('mounts /t/<token>/api only when asked', async () => {
    const off = await serve();
    expect((await api(off.url, 'GET', `/t/${TOKENS.alice}/api/kernels`, null)).status).toBe(404);
    const on = await serve({ jupyterUrlToken: true });
    expect((await api(on.url, 'GET', `/t/${TOKENS.alice}/api/kernels`, null)).status).toBe(200);
    expect((await api(on.url, 'GET', '/t/not-a-token/api/kernels', null)).status).toBe(403);
  });
});

describe('what the Jupyter routes log', () => {
  it('never the env of a kernel request nor a token, even at debug level', async () => {
    const lines: string[] = [];
    const logger = pino({ level: 'debug' }, { write: (line: string) => void lines.push(line) });
    const server = await serve({ jupyterUrlToken: true, logger });
    const secret = `secret-${randomUUID()}`;
    const created = await fetch(`${server.url}/t/${TOKENS.alice}/api/kernels`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'python3', env: { AWS_SECRET_ACCESS_KEY: secret } }),
    });
    expect(created.status).toBe(201);
    const { id } = (await created.json()) as { id: string };
    const wire = await KernelWire.open(server.url, id, TOKENS.alice);
    wires.push(wire);
    await wire.reply(wire.execute('import os\nos.environ.get("AWS_SECRET_ACCESS_KEY")'));
    expect(lines.some((line) => line.includes('/t/[redacted]/api/kernels'))).toBe(true);
    expect(lines.filter((line) => line.includes(secret) || line.includes(TOKENS.alice))).toEqual([]);
    // Nor is the env applied: the kernel's process never sees it.
    expect(wire.received.some((m) => m.msg_type === 'execute_result')).toBe(false);
  });
});
