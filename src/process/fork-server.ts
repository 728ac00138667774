import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { PythonError } from '../../machines/session.types.js';
import type { TemplateEvent } from '../../machines/template.machine.js';
import { Containment } from '../sandbox/containment.js';
import type { SandboxHost } from '../sandbox/host.js';
import { ForkedExits, isGone } from './forked-exits.js';
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
  /** Present when sessions are sandboxed: each spare enters its sandbox as soon as it is forked. */
  sandbox?: () => Promise<SandboxHost>;
}

/**
 * A child forked ahead of demand, connected, waiting for a session's config. `pid` is the
 * template's child; in a sandbox that is the sandbox's monitor, and the worker is `workerPid`.
 */
interface Spare {
  pid: number;
  socket: Socket;
  workerPid: number;
  containment?: Containment;
}

/** A spare on its way: the template names its pid, the child connects with the token; either first. */
interface Forking {
  token: string;
  pid?: number;
  socket?: Socket;
  /** A sandboxed spare's hold, from the moment it is being admitted. */
  containment?: Containment;
}

/** How long kill() waits for the template to name a child it is forking before it kills the template anyway. */
const NAMING_GRACE_MS = 1_000;

/**
 * The host side of fork mode: one template process (pyrepl3_worker --template) that has run the pool's
 * warmup code, and the Unix socket its children connect back to. It holds the spares' processes
 * and sockets by the ids the template machine (machines/template.machine.ts) gives them, and does
 * what the machine commands: order a spare, let one go, hand one over. Whether a spare exists, is
 * wanted, or is late is the machine's to decide, on its own clock.
 */
export class ForkServer {
  #template: LaunchedWorker | null = null;
  /** Set by kill() until the next start(): a template not yet spawned is not spawned at all. */
  #killed = false;
  /** kill() waits for the children on their way to be named, to end them first. */
  #killWhenNamed = false;
  #report: (event: TemplateEvent) => void = () => undefined;
  #templateError: PythonError | null = null;
  readonly #socketDir = mkdtempSync(join(tmpdir(), 'pyrepl3-fork-'));
  readonly #socketPath = join(this.#socketDir, 'sessions.sock');
  #server: Server | null = null;
  #sandbox: SandboxHost | undefined;
  /** Spares on their way, and spares ready and not yet handed over, by the template machine's spare ids. */
  readonly #forking = new Map<number, Forking>();
  readonly #spares = new Map<number, Spare>();
  readonly #exits = new ForkedExits(() => this.#template);
  /** Spares let go and not yet gone: the template's end is reported only after theirs. */
  readonly #dying = new Set<number>();
  /** Sandboxed spares' cgroups, removed once the spares are gone; close() waits for them. */
  readonly #releasing = new Set<Promise<unknown>>();

  constructor(private readonly settings: ForkServerSettings) {}

  /** Starts a template process; its lifecycle is reported as TemplateEvents. */
  start(report: (event: TemplateEvent) => void): void {
    this.#report = report;
    this.#templateError = null;
    this.#killed = false;
    this.#killWhenNamed = false;
    this.#listen();
    Promise.all([resolveInterpreter(this.settings.pythonPath), this.settings.sandbox?.()]).then(
      ([executable, sandbox]) => {
        this.#sandbox = sandbox;
        // Killed while the interpreter was being found (a pool shut down at once): it never runs.
        if (this.#killed) return report({ type: 'template.exited', exitCode: null, signal: 'SIGKILL', reason: 'killed before it started' });
        this.#spawnTemplate(executable);
      },
      (error: Error) => report({ type: 'template.exited', exitCode: null, signal: null, reason: error.message }),
    );
  }

  /** Kills the template and its spare (the sessions it forked live on; their sessions stop them). */
  kill(): void {
    this.#killed = true;
    for (const id of [...this.#spares.keys()]) this.letGoSpare(id);
    // A child on its way is known only once the template names it (at once: forking is all it does
    // then). Killed before that, the template would leave it running, unnamed and unreachable.
    for (const [id, forking] of this.#forking) if (forking.pid !== undefined) this.letGoSpare(id);
    this.#killWhenNamed = this.#forking.size > 0;
    if (!this.#killWhenNamed) return this.#killTemplate();
    // A template that never names its child (hung mid-fork) must not hold shutdown forever.
    setTimeout(() => this.#killWhenNamed && this.#killTemplate(), NAMING_GRACE_MS).unref();
  }

  #killTemplate(): void {
    const pid = this.#template?.pid;
    if (pid !== undefined) signal(pid, 'SIGKILL');
  }

  /** Frees the socket; called when the pool no longer forks. */
  async close(): Promise<void> {
    this.#server?.close();
    this.#server = null;
    rmSync(this.#socketDir, { recursive: true, force: true });
    await Promise.all(this.#releasing);
  }

  /** Has the template fork spare `spareId`; `template.spareReady` or `template.spareLost` follows. */
  order(spareId: number): void {
    const template = this.#template;
    // Gone already: the machine hears `template.exited` next.
    if (template === null) return;
    this.#forking.set(spareId, { token: randomUUID() });
    const { token } = this.#forking.get(spareId)!;
    const sandbox = this.#sandbox?.plan();
    template.channel.write(
      `${JSON.stringify({ op: 'fork', id: spareId, token, socketPath: this.#socketPath, ...(sandbox ? { sandbox } : {}) })}\n`,
    );
  }

  /** Ends spare `spareId`, wherever it is on its way: no session will get it. */
  letGoSpare(spareId: number): void {
    const spare = this.#spares.get(spareId) ?? this.#forking.get(spareId);
    this.#spares.delete(spareId);
    this.#forking.delete(spareId);
    if (spare?.pid !== undefined) this.#letGo(spare.pid, spare.socket, spare.containment);
    // Connected, but its template died before naming it: its socket's end of file ends it.
    else spare?.socket?.destroy();
  }

  /** The granted spare `spareId`, set up with `config`: from here on it is that session's worker. */
  handOver(spareId: number, config: Record<string, unknown>): LaunchedWorker {
    const spare = this.#spares.get(spareId);
    if (spare === undefined) throw new Error(`spare ${spareId} is gone`);
    this.#spares.delete(spareId);
    return this.#handOver(spare, config);
  }

  /** Gives a spare its session's config: from here on it is that session's worker. */
  #handOver(spare: Spare, config: Record<string, unknown>): LaunchedWorker {
    const { pid, socket, workerPid, containment } = spare;
    socket.write(`${JSON.stringify({ op: 'config', config })}\n`);
    // Still paused: its ready frame must wait for the session's reader.
    socket.on('close', () => this.#exits.watch(pid));
    return {
      pid: workerPid,
      channel: socket,
      onExit: (listener) => this.#exits.onExit(pid, listener),
      diagnostics: () => '',
      ...(containment ? { containment } : {}),
    };
  }

  /**
   * A spare is complete once the template named its pid and it connected, in either order, and, in a
   * sandbox, once its worker is in its own cgroup.
   */
  #onSpareProgress(id: number): void {
    const forking = this.#forking.get(id);
    if (forking?.pid === undefined || forking.socket === undefined) return;
    const { pid, socket } = forking;
    if (this.#sandbox === undefined) return this.#spareReady(id, { pid, socket, workerPid: pid });
    const containment = this.#sandbox.contain().launched(pid);
    forking.containment = containment;
    containment.admit().then(
      (workerPid) => this.#spareReady(id, { pid, socket, workerPid, containment }),
      (error: unknown) => {
        this.settings.logger.warn({ err: error }, 'could not contain a spare');
        this.#lose(id, 'could not contain the spare');
      },
    );
  }

  /** A spare let go while it was being admitted is ended now; the machine hears of the others. */
  #spareReady(id: number, spare: Spare): void {
    if (!this.#forking.delete(id)) return this.#letGo(spare.pid, spare.socket, spare.containment);
    this.#spares.set(id, spare);
    this.#report({ type: 'template.spareReady', spareId: id });
  }

  /** A spare that will never be ready, or died waiting: it is ended and the machine told. */
  #lose(id: number, reason: string): void {
    if (!this.#spares.has(id) && !this.#forking.has(id)) return;
    this.letGoSpare(id);
    this.#report({ type: 'template.spareLost', spareId: id, reason });
  }

  #letGoAll(): void {
    for (const id of [...this.#forking.keys(), ...this.#spares.keys()]) this.letGoSpare(id);
  }

  /**
   * A spare no session will get: closing its socket ends it (it reads end of file). A sandboxed
   * spare is ended through its init, so that its monitor (`pid`) is gone only once all of it is.
   */
  #letGo(pid: number, socket: Socket | undefined, containment?: Containment): void {
    this.#exits.forget(pid);
    this.#dying.add(pid);
    socket?.destroy();
    if (this.#sandbox !== undefined) (containment ?? Containment.around(pid)).kill();
    else signal(-pid, 'SIGKILL');
    if (containment === undefined) return;
    const released = new Promise<void>((resolve) => this.#afterSparesAreGone(resolve)).then(() => containment.end());
    this.#releasing.add(released);
    void released.finally(() => this.#releasing.delete(released));
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
    const reader = new LineReader(
      1024 * 1024,
      (line) => this.#onTemplateFrame(template, line),
      () => this.kill(),
    );
    template.channel.on('data', (text: string) => reader.push(text));
    template.channel.on('error', () => undefined);
    template.channel.resume();
  }

  #onTemplateFrame(template: LaunchedWorker, line: string): void {
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
        return this.#report({
          type: 'template.ready',
          pid: Number(frame.pid),
          forkSafe: frame.forkSafe === true,
          threads: Number(frame.threads),
        });
      case 'failed':
        this.#templateError = frame.error as PythonError;
        return;
      case 'forked':
        return this.#onForked(template, Number(frame.id), Number(frame.pid));
      case 'childExited':
        return this.#onChildExited(Number(frame.pid), {
          exitCode: typeof frame.exitCode === 'number' ? frame.exitCode : null,
          signal: typeof frame.signal === 'string' ? frame.signal : null,
        });
    }
  }

  #onForked(template: LaunchedWorker, id: number, pid: number): void {
    this.#exits.forked(pid, template);
    const forking = this.#forking.get(id);
    if (forking === undefined) return this.#letGo(pid, undefined);
    forking.pid = pid;
    if (!this.#killWhenNamed) return this.#onSpareProgress(id);
    this.letGoSpare(id);
    if (this.#forking.size === 0) this.#killTemplate();
  }

  #onChildExited(pid: number, exit: WorkerExit): void {
    // A spare that died before any session got it is lost; the template machine orders another.
    const spare = [...this.#spares, ...this.#forking].find(([, s]) => s.pid === pid);
    if (spare !== undefined) return this.#lose(spare[0], 'the spare exited');
    this.#exits.exited(pid, exit);
  }

  #templateExited(template: LaunchedWorker, exit: WorkerExit): void {
    if (this.#template === template) this.#template = null;
    this.#killWhenNamed = false;
    // The machine leaves `ready` on this exit and refuses whoever waits for a spare.
    this.#letGoAll();
    const reason = this.#templateError
      ? `warmup code raised ${this.#templateError.name}: ${this.#templateError.message}`
      : (exit.spawnError ?? template.diagnostics().trim());
    this.#afterSparesAreGone(() => this.#report({ type: 'template.exited', exitCode: exit.exitCode, signal: exit.signal, reason }));
  }

  /** SIGKILL is quick but not instant: "the template is gone" must mean its spares are too. */
  #afterSparesAreGone(then: () => void): void {
    for (const pid of this.#dying) if (isGone(pid)) this.#dying.delete(pid);
    if (this.#dying.size === 0) return then();
    setTimeout(() => this.#afterSparesAreGone(then), 5);
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
      const token = tokenOf(hello.subarray(0, newline).toString('utf8'));
      const entry = [...this.#forking].find(([, forking]) => forking.token === token);
      if (entry === undefined) return void socket.destroy();
      entry[1].socket = socket;
      this.#onSpareProgress(entry[0]);
    };
    socket.on('data', onData);
    socket.on('error', () => undefined);
  }
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // Already gone.
  }
}

function tokenOf(line: string): string | null {
  try {
    const frame = JSON.parse(line) as { op?: unknown; token?: unknown };
    return frame.op === 'hello' && typeof frame.token === 'string' ? frame.token : null;
  } catch {
    return null;
  }
}
