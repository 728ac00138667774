import type { HandledOutcome } from '../../../machines/kernel.machine.js';
import type { ClientMessage, Content } from './messages.js';
import { PROTOCOL_VERSION } from './messages.js';
import { executeRequest } from './execute.js';
import type { Kernel } from './kernel.js';

/** What a handler may do with the request it answers: the kernel drops both once it is answered. */
export interface RequestContext {
  kernel: Kernel;
  request: ClientMessage;
  /** iopub, with the request as parent, to every socket of the kernel. */
  publish(msgType: string, content: Content): void;
  /** The `*_reply` to the socket that asked. */
  reply(content: Content): void;
}

export type Handler = (context: RequestContext) => Promise<HandledOutcome>;

const DONE: HandledOutcome = { outcome: 'done' };

async function kernelInfo(context: RequestContext): Promise<HandledOutcome> {
  context.reply({
    status: 'ok',
    protocol_version: PROTOCOL_VERSION,
    implementation: 'pyrepl3',
    implementation_version: '0.1.0',
    language_info: {
      name: 'python',
      version: await pythonVersion(context.kernel),
      mimetype: 'text/x-python',
      file_extension: '.py',
      pygments_lexer: 'ipython3',
      codemirror_mode: { name: 'ipython', version: 3 },
      nbconvert_exporter: 'python',
    },
    banner: 'PyREPL3: a pooled Python session',
    help_links: [],
  });
  return DONE;
}

/** The session's Python version, asked once per kernel. */
async function pythonVersion(kernel: Kernel): Promise<string> {
  const answer = kernel.pythonVersion === null ? await ask(kernel, { op: 'language_version' }) : null;
  if (typeof answer?.version === 'string') kernel.pythonVersion = answer.version;
  return kernel.pythonVersion ?? '3';
}

/**
 * Asks the session itself (it knows the namespace) through pyrepl3_worker.introspect, in a silent
 * execution; null when the session could not answer.
 */
async function ask(kernel: Kernel, args: Content): Promise<Content | null> {
  const code = `__import__('pyrepl3_worker.introspect').introspect.run(${JSON.stringify(JSON.stringify(args))})`;
  try {
    const answer = (await kernel.run(code, { silent: true })).data?.['application/json'];
    return typeof answer === 'object' && answer !== null ? (answer as Content) : null;
  } catch {
    return null;
  }
}

/** Completion, inspection and completeness: the request's fields go to the session's introspect module. */
function introspection(op: 'complete' | 'inspect' | 'is_complete', fields: string[], fallback: Content): Handler {
  return async (context) => {
    const args: Content = { op };
    for (const field of fields) if (field in context.request.content) args[field] = context.request.content[field];
    context.reply((await ask(context.kernel, args)) ?? fallback);
    return DONE;
  };
}

async function historyRequest(context: RequestContext): Promise<HandledOutcome> {
  context.reply({ status: 'ok', history: context.kernel.history.query(context.request.content) });
  return DONE;
}

async function commInfo(context: RequestContext): Promise<HandledOutcome> {
  context.reply({ status: 'ok', comms: {} });
  return DONE;
}

const HANDLERS: Record<string, Handler> = {
  kernel_info_request: kernelInfo,
  execute_request: executeRequest,
  complete_request: introspection('complete', ['code', 'cursor_pos'], {
    status: 'ok',
    matches: [],
    cursor_start: 0,
    cursor_end: 0,
    metadata: {},
  }),
  inspect_request: introspection('inspect', ['code', 'cursor_pos', 'detail_level'], { status: 'ok', found: false, data: {}, metadata: {} }),
  is_complete_request: introspection('is_complete', ['code'], { status: 'unknown' }),
  history_request: historyRequest,
  comm_info_request: commInfo,
};

/** The handler of a shell request type; null for types the kernel ignores. */
export function handlerFor(msgType: string): Handler | null {
  return HANDLERS[msgType] ?? null;
}

/** An execute_request queued behind one that failed with stop_on_error: not run. */
export function answerAborted(context: RequestContext): HandledOutcome {
  context.reply({ status: 'aborted', execution_count: context.kernel.executionCount });
  return DONE;
}

/** A request the kernel can no longer answer (it died, or restarted): an error, never silence. */
export function answerAbandoned(context: RequestContext, reason: string): void {
  const error = { ename: 'SessionDiedError', evalue: reason, traceback: [`SessionDiedError: ${reason}`] };
  if (context.request.header.msg_type === 'execute_request') context.publish('error', error);
  context.reply({ status: 'error', execution_count: context.kernel.executionCount, ...error });
}
