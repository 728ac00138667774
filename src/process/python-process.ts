import { mkdtempSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fromCallback, type AnyActorRef, type CallbackActorLogic, type CallbackLogicFunction } from 'xstate';
import type { Logger } from 'pino';
import type { ProcessEvent, ProcessInbox, ProcessInput } from '../../machines/session.types.js';
import { TEMPLATE_SYSTEM_ID, type SpareAnswer, type SpareRequest } from '../../machines/template.machine.js';
import { decodeSandboxExit } from '../sandbox/containment.js';
import type { SandboxHost } from '../sandbox/host.js';
import type { ForkServer } from './fork-server.js';
import { decodeFrame, encodeCommand } from './frames.js';
import { execWorker, type LaunchedWorker, type WorkerExit } from './launch.js';
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
  /** Present when the pool forks sessions from a warmed template: it holds the spares the template machine grants. */
  forkServer?: ForkServer;
  /** Present when sessions are sandboxed: the pool's sandbox, once checked against the host. */
  sandbox?: () => Promise<SandboxHost>;
  /**
   * Told when a session actor failed (a bug in PyREPL3) and so left its process behind: the process
   * is being killed, and `gone` resolves once it has exited and its folder is removed.
   */
  onOrphaned?: (gone: Promise<void>) => void;
}

/**
 * The logic a session machine invokes as its `process` actor. Besides the session's commands it
 * hears the template machine's answer to its request for a spare (spawn 'fork').
 */
export type ProcessLogic = CallbackActorLogic<ProcessInbox, ProcessInput>;

const MAX_FRAME_CHARS = 64 * 1024 * 1024;

/**
 * The process actor a session machine invokes: one Python worker process, from spawn to exit.
 * It turns commands into frames or signals, and frames and exits into events. It reports
 * `process.exited` exactly once, when the OS process is gone, and kills the process if the
 * session stops it first.
 */
export function pythonProcessActor(settings: ProcessSettings): ProcessLogic {
  return fromCallback(pythonProcess(settings));
}

/** The body of pythonProcessActor, for wrapping it (tests put faults around a real process with it). */
export function pythonProcess(settings: ProcessSettings): CallbackLogicFunction<ProcessInbox, ProcessEvent, ProcessInput> {
  return ({ input, sendBack, receive, self, system }) => {
    const template = input.spawn === 'fork' ? (system.get(TEMPLATE_SYSTEM_ID) as AnyActorRef | undefined) : undefined;
    const ask = (request: SpareRequest): void => template?.send(request);
    const process = new PythonProcess(settings, input, (event) => sendBack(event), { self, ask, present: template !== undefined });
    receive((command) => process.handle(command));
    // An actor that throws does not stop its children (XState leaves them running): were the session
    // actor to fail, this process would outlive it. It goes with its session instead.
    const watch = self._parent?.subscribe({
      error: () => {
        process.dispose();
        settings.onOrphaned?.(process.gone);
      },
    });
    return () => {
      watch?.unsubscribe();
      process.dispose();
    };
  };
}

/** How a process of spawn 'fork' talks to the template machine. */
interface TemplateLine {
  self: AnyActorRef;
  ask: (request: SpareRequest) => void;
  /** The pool has a template machine (spawn 'fork'). */
  present: boolean;
}

class PythonProcess {
  #worker: LaunchedWorker | null = null;
  #forked = false;
  /** Settles the pending request for a spare, if one is pending. */
  #answer: ((answer: SpareAnswer) => void) | null = null;
  readonly #sessionId: string;
  #exited = false;
  #killed = false;
  /** Resolves once the process has exited and what it left (folder, cgroup) is removed. */
  readonly gone: Promise<void>;
  #markGone!: () => void;
  /** The session's folder on the host; a sandboxed session's is a tmpfs of its own instead. */
  readonly #workdir: string | null;
  readonly #log: Logger;

  constructor(
    private readonly settings: ProcessSettings,
    input: ProcessInput,
    private readonly report: (event: ProcessEvent) => void,
    private readonly template: TemplateLine,
  ) {
    this.#sessionId = input.sessionId;
    this.gone = new Promise((resolve) => {
      this.#markGone = resolve;
    });
    this.#log = settings.logger.child({ sessionId: input.sessionId });
    // The host's pid in the name lets a later server remove the folders of one that died (src/server/leftovers.ts).
    this.#workdir = settings.sandbox ? null : mkdtempSync(join(tmpdir(), `pyrepl3-${process.pid}-${input.sessionId}-`));
    this.#launch(input.spawn).then(
      (worker) => this.#attach(worker),
      (error: Error) => this.#exit({ exitCode: null, signal: null, spawnError: error.message }),
    );
  }

  handle(command: ProcessInbox): void {
    if (command.type === 'spare.granted' || command.type === 'spare.refused') return this.#answer?.(command);
    if (command.type === 'process.kill') return this.#kill();
    const line = encodeCommand(command);
    if (line !== null) this.#worker?.channel.write(line);
    else if (!this.#exited) this.#signal('SIGINT');
  }

  dispose(): void {
    if (this.#answer !== null) {
      this.template.ask({ type: 'spare.cancel', requestId: this.#sessionId });
      this.#answer({ type: 'spare.refused', reason: 'the session stopped' });
    }
    this.#kill();
  }

  /** Kills the process, or, while it is still being launched, makes sure it dies the moment it exists. */
  #kill(): void {
    this.#killed = true;
    if (!this.#exited) this.#signal('SIGKILL');
  }

  /** Takes the spare the template grants, when asked to fork; otherwise, or if refused, starts a new interpreter. */
  async #launch(spawn: ProcessInput['spawn']): Promise<LaunchedWorker> {
    const answer = spawn === 'fork' ? this.#askForSpare() : null;
    const sandbox = await this.settings.sandbox?.();
    const config = sandbox ? sandbox.workerConfig(this.settings.workerConfig) : { ...this.settings.workerConfig, cwd: this.#workdir };
    const forked = answer === null ? null : this.#takeSpare(await answer, config);
    if (forked !== null) return forked;
    const executable = await resolveInterpreter(this.settings.pythonPath);
    if (this.#killed) throw new Error('killed before it started');
    if (sandbox === undefined) return execWorker(executable, [JSON.stringify(config)], this.settings.env, this.#workdir ?? '/');
    const plan = sandbox.plan();
    const containment = sandbox.contain();
    const worker = execWorker(executable, [JSON.stringify({ ...config, sandbox: plan })], this.settings.env, '/', {
      command: sandbox.bwrap,
      args: sandbox.bwrapArguments(plan),
      workerDir: plan.workerDir,
    });
    return { ...worker, containment: containment.launched(worker.pid, plan.id).admitEarly() };
  }

  /** One request to the template machine; its answer arrives as an event (see handle()). */
  #askForSpare(): Promise<SpareAnswer> {
    if (!this.template.present) return Promise.resolve({ type: 'spare.refused', reason: 'the pool has no fork template' });
    return new Promise<SpareAnswer>((resolve) => {
      this.#answer = (answer) => {
        this.#answer = null;
        resolve(answer);
      };
      this.template.ask({ type: 'spare.request', requestId: this.#sessionId, replyTo: this.template.self });
    });
  }

  #takeSpare(answer: SpareAnswer, config: Record<string, unknown>): LaunchedWorker | null {
    if (answer.type === 'spare.refused') {
      this.#log.debug({ reason: answer.reason }, 'no spare from the fork template; starting a new interpreter instead');
      return null;
    }
    if (this.#killed) {
      this.settings.forkServer?.letGoSpare(answer.spareId);
      return null;
    }
    try {
      const worker = this.settings.forkServer!.handOver(answer.spareId, config);
      this.#forked = true;
      return worker;
    } catch (error) {
      // The template died between the grant and now, and its spare with it.
      this.#log.debug({ err: error }, 'the granted spare is gone; starting a new interpreter instead');
      return null;
    }
  }

  #attach(worker: LaunchedWorker): void {
    this.#worker = worker;
    worker.onExit((exit) => this.#exit(exit));
    if (this.#killed) this.#signal('SIGKILL');
    const { channel } = worker;
    channel.setEncoding('utf8');
    const reader = new LineReader(
      MAX_FRAME_CHARS,
      (line) => this.#deliver(decodeFrame(line)),
      () => this.#deliver({ type: 'process.protocolError', message: `a frame exceeded ${MAX_FRAME_CHARS} characters` }),
    );
    channel.on('data', (text: string) => reader.push(text));
    // A write to a process that just died fails with EPIPE; its exit is reported separately.
    channel.on('error', (error) => this.#log.debug({ err: error }, 'channel error'));
    channel.resume();
  }

  #deliver(event: ProcessEvent): void {
    if (this.#exited) return;
    if (event.type === 'process.ready') return void this.#ready(event.pid);
    this.report(event);
  }

  /** A sandboxed worker is in its cgroup before the session hears it is ready, and known by its host pid. */
  async #ready(reportedPid: number): Promise<void> {
    const worker = this.#worker!;
    let pid = reportedPid;
    const { containment } = worker;
    if (containment !== undefined) {
      try {
        pid = containment.workerPid ?? (await containment.admit());
      } catch (error) {
        this.#log.warn({ err: error }, 'could not contain a sandboxed session; killing it');
        return this.#kill();
      }
    }
    // A forked session inherited the template's warmup; an exec'd one still has to run it.
    if (!this.#exited) this.report({ type: 'process.ready', pid, warmed: this.#forked });
  }

  #signal(signal: NodeJS.Signals): void {
    const worker = this.#worker;
    if (worker?.pid === undefined) return;
    if (worker.containment !== undefined) {
      return signal === 'SIGKILL' ? worker.containment.kill() : worker.containment.signal(signal);
    }
    try {
      process.kill(-worker.pid, signal);
    } catch {
      // The group is already gone; the exit event follows.
    }
  }

  #exit(exit: WorkerExit): void {
    if (this.#exited) return;
    this.#exited = true;
    this.#worker?.channel.destroy();
    // Whatever user code left running in the process group goes with the session. A sandbox's
    // monitor exits only after every process of its namespace is gone.
    if (this.#worker?.containment === undefined) this.#signal('SIGKILL');
    const diagnostics = this.#worker?.diagnostics().trim();
    void this.#cleanUp()
      .catch((error: unknown) => this.#log.warn({ err: error }, 'could not clean up after a session'))
      .then((overLimit) => {
        const status = this.#worker?.containment ? decodeSandboxExit(exit.exitCode, exit.signal) : exit;
        this.report({
          type: 'process.exited',
          ...exit,
          ...status,
          ...(diagnostics ? { diagnostics } : {}),
          ...(overLimit ? { overLimit } : {}),
        });
        this.#markGone();
      });
  }

  /** The session's folder and cgroup are gone before anyone hears that the session is. */
  async #cleanUp(): Promise<Extract<ProcessEvent, { type: 'process.exited' }>['overLimit']> {
    if (this.#workdir !== null) await rm(this.#workdir, { recursive: true, force: true });
    return this.#worker?.containment?.end();
  }
}
