import { randomUUID } from 'node:crypto';
import { createActor, fromPromise, type Actor } from 'xstate';
import { kernelQueueMachine, type HandledOutcome, type KernelQueueEmitted, type QueuedRequest } from '../../../machines/kernel.machine.js';
import type { ExecutionResult } from '../../index.js';
import type { NamedSession, RunOptions, SessionRegistry } from '../registry.js';
import { History } from './history.js';
import { makeMessage, type ClientMessage, type Content, type JupyterMessage, type Sender } from './messages.js';
import { answerAbandoned, answerAborted, handlerFor, type RequestContext } from './shell.js';

/** One WebSocket of a kernel, as the kernel sees it. */
export interface KernelSocket {
  send(message: JupyterMessage): void;
  close(): void;
}

export type ExecutionState = 'idle' | 'busy' | 'restarting' | 'dead';

interface Pending {
  message: ClientMessage;
  socket: KernelSocket;
  /** False once the request was answered or abandoned: a late handler then sends nothing more. */
  open: boolean;
}

/**
 * A Jupyter kernel over one named session of the registry (so it is owned by a tenant and counts
 * against its quota). Requests from its sockets queue in the kernel's queue machine; iopub goes to
 * every socket, replies to the socket that asked. A restart puts a fresh session behind the same id.
 */
export class Kernel {
  readonly sender: Sender = { session: randomUUID(), username: 'pyrepl3' };
  readonly sockets = new Set<KernelSocket>();
  readonly history = new History();
  lastActivity = new Date();
  /** The session's execution count as of its last execution, like a notebook's In[n]. */
  executionCount = 0;
  /** The session's Python version, for kernel_info_reply; asked once. */
  pythonVersion: string | null = null;
  #entry: NamedSession | null;
  readonly #pending = new Map<number, Pending>();
  #serial = 0;
  readonly #queue: Actor<typeof kernelQueueMachine>;

  constructor(
    readonly id: string,
    readonly name: string,
    readonly tenant: string,
    entry: NamedSession,
    private readonly registry: SessionRegistry,
  ) {
    this.#entry = entry;
    const handle = fromPromise<HandledOutcome, QueuedRequest>(({ input }) => this.#handle(input));
    this.#queue = createActor(kernelQueueMachine.provide({ actors: { handle } }));
    this.#queue.on('abandoned', (event) => this.#abandon(event));
    this.#queue.start();
  }

  /** The registry's session behind the kernel; null once the kernel is dead. */
  get entry(): NamedSession | null {
    return this.#entry;
  }

  get executionState(): ExecutionState {
    const state = this.#queue.getSnapshot().value;
    return state === 'working' ? 'busy' : state;
  }

  /** A frame from one of the kernel's sockets. */
  receive(socket: KernelSocket, message: ClientMessage): void {
    this.lastActivity = new Date();
    if (handlerFor(message.header.msg_type) === null) return; // comms, input replies: ignored, as ipykernel ignores unknown types
    const seq = ++this.#serial;
    this.#pending.set(seq, { message, socket, open: true });
    this.#queue.send({ type: 'REQUEST', seq, execute: message.header.msg_type === 'execute_request' });
  }

  /** Runs code in the kernel's session. */
  run(code: string, options: RunOptions): Promise<ExecutionResult> {
    if (this.#entry === null) return Promise.reject(new Error('the kernel is dead'));
    return this.registry.execute(this.#entry, code, options);
  }

  interrupt(): void {
    if (this.#entry !== null) this.registry.interrupt(this.#entry);
  }

  /** The session is gone: unanswered requests get an error reply, then every socket hears `dead`. */
  die(reason: string): void {
    this.#entry = null;
    this.#queue.send({ type: 'DIE', reason });
  }

  /** A restart begins: unanswered requests get an error reply; new ones wait for finishRestart(). */
  beginRestart(): void {
    this.#entry = null;
    this.#queue.send({ type: 'RESTART', reason: 'the kernel was restarted' });
  }

  /** A fresh session behind the same id. */
  finishRestart(entry: NamedSession): void {
    this.#entry = entry;
    this.executionCount = 0;
    this.history.newSession();
    this.#queue.send({ type: 'RESTARTED' });
  }

  /** An iopub message to every socket of the kernel. */
  publish(msgType: string, content: Content, parent: ClientMessage | null): void {
    const message = makeMessage(this.sender, 'iopub', msgType, content, parent?.header ?? null);
    for (const socket of this.sockets) socket.send(message);
  }

  /** A shell or control reply to the socket that asked. */
  reply(socket: KernelSocket, request: ClientMessage, msgType: string, content: Content): void {
    this.lastActivity = new Date();
    socket.send(makeMessage(this.sender, request.channel, msgType, content, request.header));
  }

  /** The kernel is gone for good: its sockets are closed, as Jupyter Server closes them. */
  stop(): void {
    this.#queue.stop();
    for (const socket of this.sockets) socket.close();
    this.sockets.clear();
  }

  async #handle(item: QueuedRequest): Promise<HandledOutcome> {
    const pending = this.#pending.get(item.seq);
    if (pending === undefined) return { outcome: 'done' };
    const context = this.#context(pending);
    context.publish('status', { execution_state: 'busy' });
    const outcome = item.aborted ? answerAborted(context) : await handlerFor(pending.message.header.msg_type)!(context);
    // A request the session died under is answered with the abandoned ones.
    if (outcome.outcome !== 'died') this.#finish(item.seq, context);
    return outcome;
  }

  #abandon(event: KernelQueueEmitted): void {
    for (const { seq } of event.requests) {
      const pending = this.#pending.get(seq);
      if (pending === undefined) continue;
      const context = this.#context(pending);
      answerAbandoned(context, event.reason);
      this.#finish(seq, context);
    }
    if (event.dead) this.publish('status', { execution_state: 'dead' }, null);
  }

  #finish(seq: number, context: RequestContext): void {
    context.publish('status', { execution_state: 'idle' });
    const pending = this.#pending.get(seq);
    if (pending !== undefined) pending.open = false;
    this.#pending.delete(seq);
  }

  #context(pending: Pending): RequestContext {
    const { message, socket } = pending;
    return {
      kernel: this,
      request: message,
      publish: (msgType, content) => {
        if (pending.open) this.publish(msgType, content, message);
      },
      reply: (content) => {
        if (pending.open) this.reply(socket, message, message.header.msg_type.replace(/_request$/, '_reply'), content);
      },
    };
  }
}
