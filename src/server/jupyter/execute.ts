import type { HandledOutcome } from '../../../machines/kernel.machine.js';
import {
  PoolClosedError,
  SessionDiedError,
  SessionReleasedError,
  type ExecutionResult,
  type OutputChunk,
  type PythonError,
} from '../../index.js';
import type { RequestContext } from './shell.js';

/**
 * execute_request: execute_input, then what the cell shows as it runs (stream, display_data,
 * update_display_data, clear_output), then execute_result or error, and execute_reply. The kernel
 * wraps it all in busy … idle.
 */
export async function executeRequest(context: RequestContext): Promise<HandledOutcome> {
  const { kernel, request } = context;
  const code = typeof request.content.code === 'string' ? request.content.code : '';
  const silent = request.content.silent === true;
  const stopOnError = request.content.stop_on_error !== false;
  if (!silent) context.publish('execute_input', { code, execution_count: kernel.executionCount + 1 });
  let result: ExecutionResult;
  try {
    result = await kernel.run(code, { silent, onOutput: (chunk) => publishOutput(context, chunk) });
  } catch (error) {
    // The session went under the cell: the kernel answers it with the others it can no longer run.
    if (error instanceof SessionDiedError || error instanceof SessionReleasedError || error instanceof PoolClosedError) {
      return { outcome: 'died', reason: error.message };
    }
    const name = error instanceof Error ? error.name : 'Error';
    answerError(context, { name, message: error instanceof Error ? error.message : String(error), traceback: '' });
    return stopOnError ? { outcome: 'stopOnError' } : { outcome: 'done' };
  }
  if (!silent) kernel.executionCount = result.executionCount;
  if (result.truncated) context.publish('stream', { name: 'stderr', text: '[pyrepl3: output beyond maxOutputBytes was dropped]\n' });
  if (!silent && request.content.store_history !== false) {
    kernel.history.add(result.executionCount, code, textOf(result.data));
  }
  if (result.error !== null) {
    answerError(context, result.error);
    return stopOnError ? { outcome: 'stopOnError' } : { outcome: 'done' };
  }
  if (result.data !== null && !silent) {
    context.publish('execute_result', { execution_count: result.executionCount, data: result.data, metadata: {} });
  }
  context.reply({ status: 'ok', execution_count: kernel.executionCount, user_expressions: {}, payload: [] });
  return { outcome: 'done' };
}

function publishOutput(context: RequestContext, chunk: OutputChunk): void {
  switch (chunk.type) {
    case 'stream':
      context.publish('stream', { name: chunk.stream, text: chunk.text });
      return;
    case 'clear':
      context.publish('clear_output', { wait: chunk.wait });
      return;
    case 'display':
      context.publish(chunk.update === true ? 'update_display_data' : 'display_data', {
        data: chunk.data,
        metadata: chunk.metadata,
        transient: chunk.displayId !== undefined ? { display_id: chunk.displayId } : {},
      });
  }
}

/** A Python exception (or a refused execution): iopub error, then an error reply. */
function answerError(context: RequestContext, error: PythonError): void {
  const lines = error.traceback.replace(/\n$/, '').split('\n');
  const content = {
    ename: error.name,
    evalue: error.message,
    traceback: error.traceback === '' ? [`${error.name}: ${error.message}`] : lines,
  };
  context.publish('error', content);
  context.reply({ status: 'error', execution_count: context.kernel.executionCount, user_expressions: {}, payload: [], ...content });
}

function textOf(data: Record<string, unknown> | null): string | null {
  const text = data?.['text/plain'];
  return typeof text === 'string' ? text : null;
}
