import {
  AcquireTimeoutError,
  CodeTooLargeError,
  InvalidOptionError,
  PoolClosedError,
  SessionBusyError,
  SessionDiedError,
  SessionFileError,
  SessionReleasedError,
  SessionStartError,
} from '../index.js';
import {
  DrainingError,
  NotFoundError,
  QuotaExceededError,
  QuotaStoreUnavailableError,
  RegistryRefusal,
  SessionElsewhereError,
  SessionLostError,
  ShuttingDownError,
} from './refusals.js';

/**
 * The one error shape of the API: `{ error: { code, message } }`. An HTTP answer `session_died`
 * also carries what the execution printed before its process died (`stdout`, `stderr`).
 */
export interface ErrorBody {
  error: { code: string; message: string; stdout?: string; stderr?: string };
}

/** An error the HTTP layer (a route, a hook) raises itself, already carrying its HTTP status and code. */
export class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
    /** For 429: when to try again, in seconds (the Retry-After header). */
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

export interface MappedError {
  status: number;
  code: string;
  message: string;
  /** Seconds, sent as Retry-After. */
  retryAfter?: number;
}

interface FastifyLikeError {
  statusCode?: number;
  code?: string;
  validation?: unknown;
  message?: string;
}

/** The single mapping from anything thrown (library, fastify, server) to an HTTP status and code. */
export function mapError(error: unknown): MappedError {
  if (error instanceof HttpError) {
    const mapped = { status: error.statusCode, code: error.code, message: error.message };
    return error.retryAfterSeconds === undefined ? mapped : { ...mapped, retryAfter: error.retryAfterSeconds };
  }
  if (error instanceof RegistryRefusal) return refusalOf(error);
  if (error instanceof SessionBusyError) return { status: 409, code: 'session_busy', message: error.message };
  if (error instanceof CodeTooLargeError) return { status: 413, code: 'code_too_large', message: error.message };
  if (error instanceof AcquireTimeoutError) return { status: 503, code: 'pool_exhausted', message: error.message };
  if (error instanceof PoolClosedError) return { status: 503, code: 'shutting_down', message: error.message };
  if (error instanceof SessionStartError) return { status: 503, code: 'session_start_failed', message: error.message };
  if (error instanceof SessionDiedError) return { status: 500, code: 'session_died', message: error.message };
  if (error instanceof SessionReleasedError) return { status: 404, code: 'not_found', message: 'session not found' };
  if (error instanceof SessionFileError) return fileErrorOf(error);
  if (error instanceof InvalidOptionError) return { status: 400, code: 'invalid_request', message: error.message };
  const e = (typeof error === 'object' && error !== null ? error : {}) as FastifyLikeError;
  const message = typeof e.message === 'string' ? e.message : 'internal error';
  if (e.validation !== undefined) return { status: 400, code: 'invalid_request', message };
  if (e.statusCode === 413 || e.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return { status: 413, code: 'payload_too_large', message };
  if (e.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') return { status: 415, code: 'unsupported_media_type', message };
  if (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
    return { status: e.statusCode, code: 'invalid_request', message };
  }
  return { status: 500, code: 'internal', message: 'internal error' };
}

/** A tenant at a quota may try again in this many seconds (Retry-After). */
const QUOTA_RETRY_AFTER_SECONDS = 1;

/** The HTTP answer to each of the registry's refusals. */
function refusalOf(error: RegistryRefusal): MappedError {
  const { message } = error;
  if (error instanceof QuotaExceededError) return { status: 429, code: 'quota_exceeded', message, retryAfter: QUOTA_RETRY_AFTER_SECONDS };
  if (error instanceof NotFoundError) return { status: 404, code: 'not_found', message };
  if (error instanceof SessionElsewhereError) return { status: 421, code: 'misdirected', message };
  if (error instanceof SessionLostError) return { status: 410, code: 'session_lost', message };
  if (error instanceof QuotaStoreUnavailableError) return { status: 503, code: 'quota_unavailable', message };
  if (error instanceof ShuttingDownError) return { status: 503, code: 'shutting_down', message };
  if (error instanceof DrainingError) return { status: 503, code: 'draining', message };
  return { status: 500, code: 'internal', message: 'internal error' };
}

const FILE_STATUS: Record<SessionFileError['code'], [number, string]> = {
  invalid_path: [400, 'invalid_path'],
  not_found: [404, 'not_found'],
  too_large: [413, 'file_too_large'],
  io_error: [500, 'io_error'],
};

function fileErrorOf(error: SessionFileError): MappedError {
  const [status, code] = FILE_STATUS[error.code];
  return { status, code, message: error.message };
}

export function errorBody(mapped: MappedError): ErrorBody {
  return { error: { code: mapped.code, message: mapped.message } };
}

/**
 * The body of an HTTP error answer. For `session_died` it adds the output the execution had
 * printed (the tenant's own), which a request without a stream would otherwise lose. A session's
 * log and streams do not repeat it: they had that output as it happened.
 */
export function answerBody(error: unknown, mapped: MappedError): ErrorBody {
  const body = errorBody(mapped);
  if (error instanceof SessionDiedError) body.error = { ...body.error, stdout: error.stdout, stderr: error.stderr };
  return body;
}
