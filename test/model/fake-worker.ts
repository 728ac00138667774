import { fromCallback, type AnyActorRef } from 'xstate';
import type { ProcessCommand, ProcessEvent, ProcessInbox, ProcessInput, SpawnMode } from '../../machines/session.types.js';
import { TEMPLATE_SYSTEM_ID, type SpareRequest, type TemplateCommand, type TemplateEvent } from '../../machines/template.machine.js';
import type { ProcessLogic } from '../../src/index.js';

/**
 * An in-memory stand-in for the Python worker, for model-based tests of the supervisor's logic.
 * Every reply goes through `deliver`, so a test decides when (and in which order) process events
 * happen: at once, or whenever a fast-check scheduler releases them.
 *
 * Code it understands: 'hang' runs until interrupted or killed; 'crash' kills the process;
 * 'fail' raises; anything else succeeds with value '1'.
 */
export type Deliver = (label: string, event: () => void) => void;

export class FakeProcess {
  exited = false;
  /** The session stopped this actor: events still held for it are dropped, as a real channel's would be. */
  #stopped = false;
  #running: number | null = null;

  constructor(
    readonly sessionId: string,
    readonly pid: number,
    private readonly world: FakeWorld,
    private readonly sendBack: (event: ProcessEvent) => void,
  ) {}

  /** Sends the session an event as is, bypassing the protocol (a malformed frame, a test's fault). */
  inject(event: unknown): void {
    this.sendBack(event as ProcessEvent);
  }

  /** The process dies on its own (a crash, the OOM killer, a SIGKILL from outside). */
  crash(): void {
    this.#exit({ exitCode: 1, signal: null });
  }

  handle(command: ProcessCommand): void {
    switch (command.type) {
      case 'process.execute':
        return this.#execute(command.requestId, command.code);
      case 'process.ping':
        return this.#reply('pong', { type: 'process.pong' });
      case 'process.interrupt':
        if (this.#running !== null) this.#finish(this.#running, 'interrupted');
        return;
      case 'process.kill':
        return this.#exit({ exitCode: null, signal: 'SIGKILL' });
    }
  }

  start(): void {
    if (this.world.failingSpawns > 0) {
      this.world.failingSpawns--;
      this.#exit({ exitCode: null, signal: null, spawnError: 'fake spawn failure' });
    } else {
      this.#reply('ready', { type: 'process.ready', pid: this.pid, warmed: false });
    }
  }

  #execute(requestId: number, code: string): void {
    this.#running = requestId;
    if (code === 'hang') return;
    if (code === 'crash') return this.crash();
    this.#finish(requestId, code === 'fail' ? 'error' : 'ok');
  }

  #finish(requestId: number, status: 'ok' | 'error' | 'interrupted'): void {
    this.#running = null;
    this.#reply(`result ${status}`, {
      type: 'process.result',
      requestId,
      result: {
        status,
        value: status === 'ok' ? '1' : null,
        data: null,
        error: status === 'ok' ? null : { name: status === 'error' ? 'ValueError' : 'KeyboardInterrupt', message: '', traceback: '' },
        executionCount: 1,
        truncated: false,
        durationMs: 0,
      },
    });
  }

  #exit(exit: { exitCode: number | null; signal: string | null; spawnError?: string }): void {
    if (this.exited) return;
    this.exited = true;
    this.#running = null;
    this.world.deliver(`${this.sessionId} exit`, () => {
      if (!this.#stopped) this.sendBack({ type: 'process.exited', ...exit });
    });
  }

  /** The session stopped the actor: whatever the process was doing, it is gone. */
  stop(): void {
    this.exited = true;
    this.#stopped = true;
  }

  #reply(label: string, event: ProcessEvent): void {
    this.world.deliver(`${this.sessionId} ${label}`, () => {
      if (!this.exited) this.sendBack(event);
    });
  }
}

export class FakeWorld {
  readonly processes = new Map<string, FakeProcess>();
  /** How the pool asked for each session's process: forked from the template, or exec'd. */
  readonly spawnModes = new Map<string, SpawnMode>();
  /** The next this-many spawns fail. */
  failingSpawns = 0;
  /** The template process whose spares forked sessions take, when there is one. */
  spares: { handOver(spareId: number): boolean } | null = null;
  /** What went wrong that no pool event shows: a session granted a spare that was not there. */
  readonly violations: string[] = [];
  #pids = 1000;

  constructor(readonly deliver: Deliver = (_, event) => event()) {}

  readonly processActor = (): ProcessLogic =>
    fromCallback<ProcessInbox, ProcessInput>(({ input, sendBack, receive, self, system }) => {
      const process = new FakeProcess(input.sessionId, ++this.#pids, this, sendBack);
      this.processes.set(input.sessionId, process);
      const launch = (mode: SpawnMode): void => {
        this.spawnModes.set(input.sessionId, mode);
        process.start();
      };
      // Like the real process actor: a fork is the template machine's to grant; refused, it execs.
      const template = input.spawn === 'fork' ? (system.get(TEMPLATE_SYSTEM_ID) as AnyActorRef | undefined) : undefined;
      receive((command) => {
        if (command.type === 'spare.refused') return launch('exec');
        if (command.type !== 'spare.granted') return process.handle(command);
        if (this.spares?.handOver(command.spareId) === false)
          this.violations.push(`${input.sessionId} granted spare ${command.spareId}, which is not ready`);
        launch('fork');
      });
      if (template === undefined) launch('exec');
      else template.send({ type: 'spare.request', requestId: input.sessionId, replyTo: self } satisfies SpareRequest);
      return () => {
        template?.send({ type: 'spare.cancel', requestId: input.sessionId } satisfies SpareRequest);
        process.stop();
      };
    });

  alive(): FakeProcess[] {
    return [...this.processes.values()].filter((p) => !p.exited);
  }
}

/**
 * A `deliver` hook that holds every process event until the test releases it, for paths that
 * decide exactly which process event happens next.
 */
export class HeldDeliveries {
  readonly items: Array<{ label: string; event: () => void }> = [];
  readonly deliver: Deliver = (label, event) => {
    this.items.push({ label, event });
  };

  /** Releases, in order, every held event whose label matches (and those they cause), until none is left. */
  release(matches: (label: string) => boolean): number {
    let count = 0;
    for (;;) {
      const index = this.items.findIndex((item) => matches(item.label));
      if (index === -1) return count;
      const [item] = this.items.splice(index, 1);
      item!.event();
      count++;
    }
  }
}

/**
 * A scripted fork template process (PoolRuntime.templateProcessActor): the test says when it starts,
 * warms up and exits. One instance of the logic serves every restart of the template.
 */
export class FakeTemplate {
  /** Template processes running (invoked and not yet stopped by the template machine). */
  alive = 0;
  /** template.kill commands received by the current process. */
  kills = 0;
  spawned = 0;
  /** At the end of a test: a kill makes the process exit at once. */
  exitOnKill = false;
  #sendBack: ((event: TemplateEvent) => void) | null = null;

  readonly logic = fromCallback<TemplateCommand>(({ sendBack, receive }) => {
    this.alive++;
    this.spawned++;
    this.kills = 0;
    this.#sendBack = sendBack;
    receive((command) => {
      if (command.type === 'template.orderSpare') return this.#order(command.spareId);
      if (command.type === 'template.letGoSpare') return void this.stock.delete(command.spareId);
      this.kills++;
      if (this.exitOnKill) this.exit();
    });
    return () => {
      this.alive--;
      // Its spares die with it.
      this.#dropSpares();
      if (this.#sendBack === sendBack) this.#sendBack = null;
    };
  });

  /** Spares ordered and not yet reported (when `holdSpares` holds them back). */
  readonly ordered: number[] = [];
  /** Spares reported ready, neither handed over nor let go. */
  readonly stock = new Set<number>();
  /** Hold orders back until the test settles them (`settleSpare`); by default a spare is ready at once. */
  holdSpares = false;

  #order(spareId: number): void {
    this.ordered.push(spareId);
    if (!this.holdSpares) this.settleSpare(true);
  }

  /** The oldest spare on order is ready (true), or lost (false). False when none is on order. */
  settleSpare(ready: boolean): boolean {
    const spareId = this.ordered.shift();
    if (spareId === undefined) return false;
    if (ready) this.stock.add(spareId);
    this.send(ready ? { type: 'template.spareReady', spareId } : { type: 'template.spareLost', spareId, reason: 'gone' });
    return true;
  }

  /** A session takes the spare it was granted: false if no such spare is ready (granted twice, or gone). */
  handOver(spareId: number): boolean {
    return this.stock.delete(spareId);
  }

  #dropSpares(): void {
    this.ordered.length = 0;
    this.stock.clear();
  }

  send(event: TemplateEvent): void {
    if (this.#sendBack === null) throw new Error(`no template process to send ${event.type}`);
    this.#sendBack(event);
  }

  started(): void {
    this.send({ type: 'template.started' });
  }

  ready(forkSafe: boolean, pid = 4000): void {
    this.send({ type: 'template.ready', pid, forkSafe, threads: forkSafe ? 1 : 3 });
  }

  exit(reason = 'exited'): void {
    this.#dropSpares();
    this.send({ type: 'template.exited', exitCode: null, signal: 'SIGKILL', reason });
  }

  /** Lets a pool that is shutting down finish: the process exits now if it was killed, or when it is. */
  finish(): void {
    this.exitOnKill = true;
    if (this.#sendBack !== null && this.kills > 0) this.exit();
  }
}
