import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { PythonError } from '../../machines/session.types.js';
import type { TemplateEvent } from '../../machines/template.machine.js';
import { resolveInterpreter } from './interpreter.js';
import { execWorker, type LaunchedWorker, type WorkerExit } from './launch.js';
import { LineReader } from './line-reader.js';

export interface ForkServerSettings {
  /** Written into the template's command line, so the pool's processes can be found with ps. */
  poolId: string;
  pythonPath: string;
  env: Record<string, string>;
  warmupCode: string | null;
  logger: Logger;
}

interface PendingFork {
  token: string;
  pid?: number;
  socket?: Socket;
  resolve: (worker: LaunchedWorker) => void;
  reject: (error: Error) => void;
}

/** How long a forked child may take to connect back before the fork counts as failed. */
const FORK_TIMEOUT_MS = 5_000;
/** A forked child whose socket closed while no template reports exits is watched for this often. */
const ORPHAN_PROBE_MS = 50;

/**
 * The host side of fork mode: one template process (worker.py --template) that has run the pool's
 * warmup code and forks sessions on request, and the Unix socket its children connect back to.
 * The host is not the children's parent, so the template reports their exits; if the template
 * itself is gone, a child's closed socket and the OS tell instead.
 */
export class ForkServer {
  #template: LaunchedWorker | null = null;
  #ready = false;
  #report: (event: TemplateEvent) => void = () => undefined;
  #templateError: PythonError | null = null;
  readonly #socketDir = mkdtempSync(join(tmpdir(), 'pyrepl3-fork-'));
  readonly #socketPath = join(this.#socketDir, 'sessions.sock');
  #server: Server | null = null;
  #forkSerial = 0;
  readonly #pending = new Map<number, PendingFork>();
  readonly #byToken = new Map<string, PendingFork>();
  readonly #exitListeners = new Map<number, (exit: WorkerExit) => void>();
  /** The template each live child was forked from: only that one can report the child's exit. */
  readonly #parentOf = new Map<number, LaunchedWorker>();
  readonly #earlyExits = new Map<number, WorkerExit>();

  constructor(private readonly settings: ForkServerSettings) {}

  /** Starts a template process; its lifecycle is reported as TemplateEvents. */
  start(report: (event: TemplateEvent) => void): void {
    this.#report = report;
    this.#templateError = null;
    this.#listen();
    resolveInterpreter(this.settings.pythonPath).then(
      (executable) => this.#spawnTemplate(executable),
      (error: Error) => report({ type: 'template.exited', exitCode: null, signal: null, reason: error.message }),
    );
  }

  /** Kills the template (its forked sessions live on; their sessions stop them). */
  kill(): void {
    this.#ready = false;
    const pid = this.#template?.pid;
    if (pid === undefined) return;
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }

  /** Frees the socket; called when the pool no longer forks. */
  close(): void {
    this.#server?.close();
    this.#server = null;
    rmSync(this.#socketDir, { recursive: true, force: true });
  }

  /** A new session forked from the template, connected and ready to speak the worker protocol. */
  fork(config: Record<string, unknown>): Promise<LaunchedWorker> {
    const template = this.#template;
    if (!this.#ready || template === null) return Promise.reject(new Error('no fork template is ready'));
    const id = ++this.#forkSerial;
    const token = randomUUID();
    return new Promise<LaunchedWorker>((resolve, reject) => {
      const timer = setTimeout(() => fail(new Error(`forked session did not connect within ${FORK_TIMEOUT_MS} ms`)), FORK_TIMEOUT_MS);
      const settle = (): void => {
        clearTimeout(timer);
        this.#pending.delete(id);
        this.#byToken.delete(token);
      };
      const fail = (error: Error): void => {
        settle();
        if (pending.pid !== undefined) this.#killOrphan(pending.pid);
        reject(error);
      };
      const pending: PendingFork = {
        token,
        resolve: (worker) => {
          settle();
          resolve(worker);
        },
        reject: fail,
      };
      this.#pending.set(id, pending);
      this.#byToken.set(token, pending);
      template.channel.write(`${JSON.stringify({ op: 'fork', id, token, socketPath: this.#socketPath, config })}\n`);
    });
  }

  #listen(): void {
    if (this.#server !== null) return;
    this.#server = createServer((socket) => this.#greet(socket));
    this.#server.listen(this.#socketPath);
    this.#server.unref();
  }

  #spawnTemplate(executable: string): void {
    const config = JSON.stringify({ pool: this.settings.poolId, warmupCode: this.settings.warmupCode });
    const template = execWorker(executable, ['--template', config], this.settings.env, this.#socketDir);
    this.#template = template;
    template.onExit((exit) => this.#templateExited(template, exit));
    template.channel.setEncoding('utf8');
    const reader = new LineReader(1024 * 1024, (line) => this.#onTemplateFrame(line), () => this.kill());
    template.channel.on('data', (text: string) => reader.push(text));
    template.channel.on('error', () => undefined);
  }

  #onTemplateFrame(line: string): void {
    let frame: Record<string, unknown>;
    try {
      frame = JSON.parse(line) as Record<string, unknown>;
    } catch {
      return this.kill();
    }
    switch (frame.op) {
      case 'started':
        return this.#report({ type: 'template.started' });
      case 'ready':
        this.#ready = frame.forkSafe === true;
        return this.#report({ type: 'template.ready', pid: Number(frame.pid), forkSafe: frame.forkSafe === true, threads: Number(frame.threads) });
      case 'failed':
        this.#templateError = frame.error as PythonError;
        return;
      case 'forked':
        return this.#onForked(Number(frame.id), Number(frame.pid));
      case 'childExited':
        return this.#onChildExited(Number(frame.pid), {
          exitCode: typeof frame.exitCode === 'number' ? frame.exitCode : null,
          signal: typeof frame.signal === 'string' ? frame.signal : null,
        });
    }
  }

  #templateExited(template: LaunchedWorker, exit: WorkerExit): void {
    if (this.#template === template) {
      this.#template = null;
      this.#ready = false;
    }
    for (const pending of [...this.#pending.values()]) pending.reject(new Error('the fork template exited'));
    const reason = this.#templateError
      ? `warmup code raised ${this.#templateError.name}: ${this.#templateError.message}`
      : (exit.spawnError ?? template.diagnostics().trim());
    this.#report({ type: 'template.exited', exitCode: exit.exitCode, signal: exit.signal, reason });
  }

  /** A forked child connected: its first line names the fork it answers. */
  #greet(socket: Socket): void {
    let hello = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      hello = Buffer.concat([hello, chunk]);
      const newline = hello.indexOf(10);
      if (newline === -1) return;
      socket.off('data', onData);
      socket.pause();
      const rest = hello.subarray(newline + 1);
      if (rest.length > 0) socket.unshift(rest);
      const token = this.#tokenOf(hello.subarray(0, newline).toString('utf8'));
      const pending = token === null ? undefined : this.#byToken.get(token);
      if (pending === undefined) return void socket.destroy();
      pending.socket = socket;
      this.#completeFork(pending);
    };
    socket.on('data', onData);
    socket.on('error', () => undefined);
  }

  #tokenOf(line: string): string | null {
    try {
      const frame = JSON.parse(line) as { op?: unknown; token?: unknown };
      return frame.op === 'hello' && typeof frame.token === 'string' ? frame.token : null;
    } catch {
      return null;
    }
  }

  #onForked(id: number, pid: number): void {
    const pending = this.#pending.get(id);
    if (pending === undefined) return this.#killOrphan(pid);
    if (this.#template !== null) this.#parentOf.set(pid, this.#template);
    pending.pid = pid;
    this.#completeFork(pending);
  }

  /** A fork is complete once the template named the pid and the child connected, in either order. */
  #completeFork(pending: PendingFork): void {
    const { pid, socket } = pending;
    if (pid === undefined || socket === undefined) return;
    // Still paused: the ready frame may already be buffered, and must wait for the session's reader.
    socket.on('close', () => this.#watchOrphan(pid));
    pending.resolve({
      pid,
      channel: socket,
      onExit: (listener) => this.#onExitOf(pid, listener),
      diagnostics: () => '',
    });
  }

  #onExitOf(pid: number, listener: (exit: WorkerExit) => void): void {
    const early = this.#earlyExits.get(pid);
    if (early !== undefined) {
      this.#earlyExits.delete(pid);
      listener(early);
    } else {
      this.#exitListeners.set(pid, listener);
    }
  }

  #onChildExited(pid: number, exit: WorkerExit): void {
    const listener = this.#exitListeners.get(pid);
    this.#exitListeners.delete(pid);
    this.#parentOf.delete(pid);
    if (listener !== undefined) listener(exit);
    else this.#earlyExits.set(pid, exit);
  }

  /**
   * The child's socket closed. While the template that forked it lives, its exit report follows at
   * once; once that template is gone (a later one cannot report it), the OS is asked instead.
   */
  #watchOrphan(pid: number): void {
    const probe = setInterval(() => {
      if (!this.#exitListeners.has(pid)) return clearInterval(probe);
      if (this.#parentOf.get(pid) === this.#template) return;
      if (isGone(pid)) {
        clearInterval(probe);
        this.#onChildExited(pid, { exitCode: null, signal: null });
      }
    }, ORPHAN_PROBE_MS);
    probe.unref();
  }

  #killOrphan(pid: number): void {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
}

/** True once a process no longer runs. A zombie waiting for a reaper that is not us counts as gone. */
function isGone(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state === 'Z' || state === 'X';
  } catch {
    // No /proc entry (or no /proc at all): ask the OS directly.
    try {
      process.kill(pid, 0);
      return false;
    } catch {
      return true;
    }
  }
}
