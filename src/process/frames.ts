import type { DisplayOutput, FileError, ProcessCommand, ProcessEvent, WorkerResult } from '../../machines/session.types.js';

/**
 * The wire format between the host and the worker (src/python/pyrepl3_worker): one JSON object per line on the
 * worker's private channel (fd 3), never on the user's stdout.
 */

type Frame = Record<string, unknown>;

const RESULT_STATUSES = new Set<unknown>(['ok', 'error', 'interrupted']);

/** A command as the line the worker reads; null for commands that are signals, not messages. */
export function encodeCommand(command: ProcessCommand): string | null {
  switch (command.type) {
    case 'process.execute':
      return `${JSON.stringify({ op: 'exec', id: command.requestId, code: command.code, silent: command.silent })}\n`;
    case 'process.ping':
      return '{"op":"ping","id":0}\n';
    case 'process.file':
      return `${JSON.stringify({ ...command.request, id: command.requestId })}\n`;
    case 'process.interrupt':
    case 'process.kill':
      return null;
  }
}

/** The event a line from the worker stands for; a protocol error when it is not one. */
export function decodeFrame(line: string): ProcessEvent {
  let frame: Frame;
  try {
    frame = JSON.parse(line) as Frame;
  } catch {
    return protocolError(`not JSON: ${line.slice(0, 80)}`);
  }
  switch (frame.op) {
    case 'output':
      return {
        type: 'process.output',
        requestId: typeof frame.id === 'number' ? frame.id : null,
        stream: frame.stream === 'stderr' ? 'stderr' : 'stdout',
        text: String(frame.text ?? ''),
      };
    case 'display':
      return decodeDisplay(frame);
    case 'result':
      if (typeof frame.id !== 'number') return protocolError('result without an id');
      if (!RESULT_STATUSES.has(frame.status)) return protocolError(`result with status ${JSON.stringify(frame.status)}`);
      return { type: 'process.result', requestId: frame.id, result: toResult(frame) };
    case 'pong':
      return { type: 'process.pong' };
    case 'file':
      if (typeof frame.id !== 'number') return protocolError('file answer without an id');
      return {
        type: 'process.file',
        requestId: frame.id,
        data: typeof frame.data === 'string' ? frame.data : null,
        error: (frame.error ?? null) as FileError | null,
      };
    case 'ready':
      return typeof frame.pid === 'number'
        ? { type: 'process.ready', pid: frame.pid, warmed: false }
        : protocolError('ready without a pid');
    default:
      return protocolError(`unknown frame op ${JSON.stringify(frame.op)}`);
  }
}

function decodeDisplay(frame: Frame): ProcessEvent {
  const output = frame.output as Record<string, unknown> | null | undefined;
  const requestId = typeof frame.id === 'number' ? frame.id : null;
  if (output?.type === 'clear') return { type: 'process.display', requestId, output: { type: 'clear', wait: output.wait === true } };
  if (output?.type !== 'display' || typeof output.data !== 'object' || output.data === null) return protocolError('display without data');
  return { type: 'process.display', requestId, output: output as DisplayOutput };
}

function toResult(frame: Frame): WorkerResult {
  return {
    status: frame.status as WorkerResult['status'],
    value: (frame.value ?? null) as string | null,
    data: (frame.data ?? null) as WorkerResult['data'],
    error: (frame.error ?? null) as WorkerResult['error'],
    executionCount: Number(frame.executionCount ?? 0),
    truncated: frame.truncated === true,
    durationMs: Number(frame.durationMs ?? 0),
  };
}

function protocolError(message: string): ProcessEvent {
  return { type: 'process.protocolError', message };
}
