import { mkdtempSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import { execa } from 'execa';
import { fromCallback, type CallbackActorLogic } from 'xstate';
import type { Logger } from 'pino';
import type { ProcessCommand, ProcessEvent, ProcessInput } from '../../machines/session.types.js';
import { WORKER_PATH } from '../python/worker-path.js';
import { decodeFrame, encodeCommand } from './frames.js';
import { resolveInterpreter } from './interpreter.js';
import { LineReader } from './line-reader.js';

/** What every session process of one pool shares. */
export interface ProcessSettings {
  pythonPath: string;
  /** The complete environment of the process: nothing of the host's leaks in unless named here. */
  env: Record<string, string>;
  /** Handed to the worker as its configuration (limits, the pool's tag for finding its processes). */
  workerConfig: Record<string, unknown>;
  logger: Logger;
}

/** The logic a session machine invokes as its `process` actor. */
export type ProcessLogic = CallbackActorLogic<ProcessCommand, ProcessInput>;

const MAX_FRAME_CHARS = 64 * 1024 * 1024;
const DIAGNOSTICS_CHARS = 4096;

/**
 * The process actor a session machine invokes: one Python worker process, from spawn to exit.
 * It turns commands into frames or signals, and frames and exits into events. It reports
 * `process.exited` exactly once, when the OS process is gone, and kills the process if the
 * session stops it first.
 */
export function pythonProcessActor(settings: ProcessSettings): ProcessLogic {
  return fromCallback<ProcessCommand, ProcessInput>(({ input, sendBack, receive }) => {
    const process = new PythonProcess(settings, input.sessionId, (event) => sendBack(event));
    receive((command) => process.handle(command));
    return () => process.dispose();
  });
}

class PythonProcess {
  #pid: number | undefined;
  #channel: Socket | null = null;
  #exited = false;
  #disposed = false;
  #diagnostics = '';
  readonly #workdir: string;
  readonly #log: Logger;

  constructor(
    private readonly settings: ProcessSettings,
    sessionId: string,
    private readonly report: (event: ProcessEvent) => void,
  ) {
    this.#log = settings.logger.child({ sessionId });
    this.#workdir = mkdtempSync(join(tmpdir(), `pyrepl3-${sessionId}-`));
    resolveInterpreter(settings.pythonPath).then(
      (executable) => this.#spawn(executable),
      (error: Error) => this.#exit({ exitCode: null, signal: null, spawnError: error.message }),
    );
  }

  handle(command: ProcessCommand): void {
    const line = encodeCommand(command);
    if (line !== null) this.#channel?.write(line);
    else this.#signal(command.type === 'process.kill' ? 'SIGKILL' : 'SIGINT');
  }

  dispose(): void {
    this.#disposed = true;
    if (!this.#exited) this.#signal('SIGKILL');
  }

  #spawn(executable: string): void {
    if (this.#disposed) return this.#exit({ exitCode: null, signal: null });
    const config = JSON.stringify({ ...this.settings.workerConfig, cwd: this.#workdir });
    const child = execa(executable, ['-u', WORKER_PATH, config], {
      stdio: ['ignore', 'ignore', 'pipe', 'pipe'],
      env: this.settings.env,
      extendEnv: false,
      cwd: this.#workdir,
      // Its own process group: an interrupt or a kill reaches the children user code started,
      // and a Ctrl-C meant for the host does not reach the sessions.
      detached: true,
      buffer: false,
      reject: false,
    });
    this.#pid = child.pid;
    // 'exit' rather than the promise: a grandchild that inherited a pipe must not delay the news.
    child.once('exit', (exitCode, signal) => this.#exit({ exitCode, signal }));
    void child.then((result) => {
      if (result.failed && result.exitCode === undefined && result.signal === undefined) {
        this.#exit({ exitCode: null, signal: null, spawnError: result.shortMessage });
      }
    });
    this.#watchDiagnostics(child.stderr);
    this.#openChannel(child.stdio[3] as Socket);
  }

  #openChannel(channel: Socket): void {
    this.#channel = channel;
    channel.setEncoding('utf8');
    const reader = new LineReader(
      MAX_FRAME_CHARS,
      (line) => this.#deliver(decodeFrame(line)),
      () => this.#deliver({ type: 'process.protocolError', message: `a frame exceeded ${MAX_FRAME_CHARS} characters` }),
    );
    channel.on('data', (text: string) => reader.push(text));
    // A write to a process that just died fails with EPIPE; its exit is reported separately.
    channel.on('error', (error) => this.#log.debug({ err: error }, 'channel error'));
  }

  #watchDiagnostics(stderr: Readable | null): void {
    stderr?.setEncoding('utf8');
    stderr?.on('data', (text: string) => {
      this.#diagnostics = (this.#diagnostics + text).slice(-DIAGNOSTICS_CHARS);
    });
  }

  #deliver(event: ProcessEvent): void {
    if (!this.#exited) this.report(event);
  }

  #signal(signal: NodeJS.Signals): void {
    const pid = this.#pid;
    if (pid === undefined || this.#exited) return;
    try {
      process.kill(-pid, signal);
    } catch {
      // The group is already gone; the exit event follows.
    }
  }

  #exit(exit: { exitCode: number | null; signal: string | null; spawnError?: string }): void {
    if (this.#exited) return;
    this.#exited = true;
    this.#channel?.destroy();
    // Whatever user code left running in the process group goes with the session.
    if (this.#pid !== undefined) {
      try {
        process.kill(-this.#pid, 'SIGKILL');
      } catch {
        // Nothing left in the group.
      }
    }
    const diagnostics = this.#diagnostics.trim();
    // The session's working directory is gone before anyone hears that the session is.
    void rm(this.#workdir, { recursive: true, force: true })
      .catch((error: unknown) => this.#log.warn({ err: error }, 'could not remove the session directory'))
      .finally(() => this.report({ type: 'process.exited', ...exit, ...(diagnostics ? { diagnostics } : {}) }));
  }
}
