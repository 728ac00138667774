import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyBaseLogger, FastifyReply, FastifyRequest } from 'fastify';
import { errorBody, mapError, type MappedError } from './errors.js';

/**
 * What the server does at the connection level so that careless and hostile clients get a clear
 * answer and cannot hold sockets open: timeouts, answers to malformed requests in the API's error
 * shape, and a lingering close after an early answer.
 */
export interface HygieneOptions {
  /** Time to receive a whole request, body included (408 after it). */
  requestTimeoutMs: number;
  /** Time to receive a request's headers. At most requestTimeoutMs. */
  headersTimeoutMs: number;
  /** Largest request head (431 above it). */
  maxHeaderBytes: number;
  /** After an early answer, how much of the unread body is read and discarded before the socket is cut. */
  lingerBytes: number;
}

/** Node's own http.Server options for the values above; the checks run every second, not Node's default 30 s. */
export function httpServerOptions(options: HygieneOptions): {
  headersTimeout: number;
  maxHeaderSize: number;
  connectionsCheckingInterval: number;
} {
  return {
    headersTimeout: Math.min(options.headersTimeoutMs, options.requestTimeoutMs),
    maxHeaderSize: options.maxHeaderBytes,
    connectionsCheckingInterval: Math.min(1_000, options.requestTimeoutMs),
  };
}

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  404: 'Not Found',
  408: 'Request Timeout',
  413: 'Payload Too Large',
  414: 'URI Too Long',
  429: 'Too Many Requests',
  431: 'Request Header Fields Too Large',
};

/** Sockets already answered and being drained: a broken parser may report the same socket again. */
const lingering = new WeakSet<Socket>();

/**
 * Reads and discards what the client still sends, up to `maxBytes` and `maxMs`, then closes. A
 * client that is still sending when the server answers and closes at once gets a reset instead of
 * the answer (EPIPE, ECONNRESET); one that can finish sending reads the answer.
 */
function linger(socket: Socket, stream: Socket | IncomingMessage, maxBytes: number, maxMs: number): void {
  lingering.add(socket);
  let read = 0;
  const timer = setTimeout(() => socket.destroy(), maxMs);
  timer.unref();
  socket.once('close', () => clearTimeout(timer));
  stream.on('data', (chunk: Buffer) => {
    read += chunk.length;
    if (read > maxBytes) socket.destroy();
  });
  stream.resume();
  // The answer is complete: say so at once (a half-close, which does not reset a client still sending).
  socket.end();
}

function rawResponse(mapped: MappedError, extraHeaders: Record<string, string> = {}): string {
  const body = JSON.stringify(errorBody(mapped));
  const headers = {
    'content-type': 'application/json; charset=utf-8',
    'content-length': String(Buffer.byteLength(body)),
    connection: 'close',
    ...extraHeaders,
  };
  const head = Object.entries(headers)
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join('');
  return `HTTP/1.1 ${mapped.status} ${STATUS_TEXT[mapped.status] ?? 'Error'}\r\n${head}\r\n${body}`;
}

/**
 * Answers an error on a request whose body the server has not read (401 before the body, 413, 404
 * with a body, ...): the answer is written on the socket, the rest of the body is read and
 * discarded up to lingerBytes, then the connection closes. True when it took the reply over.
 */
export function answerBeforeBody(request: FastifyRequest, reply: FastifyReply, mapped: MappedError, options: HygieneOptions): boolean {
  const raw = request.raw;
  if (raw.complete || raw.socket.destroyed) return false;
  const extra: Record<string, string> = { 'x-request-id': request.id };
  const retryAfter = reply.getHeader('retry-after');
  if (retryAfter !== undefined) extra['retry-after'] = String(retryAfter);
  reply.hijack();
  raw.socket.write(rawResponse(mapped, extra));
  linger(raw.socket, raw, options.lingerBytes, options.requestTimeoutMs);
  return true;
}

/** Node's http.Server clientError: a request too slow (408), a head too large (431), or malformed (400). */
export function clientErrorHandler(options: HygieneOptions, logger: FastifyBaseLogger) {
  return (error: NodeJS.ErrnoException, socket: Socket): void => {
    if (error.code === 'ECONNRESET' || socket.destroyed || lingering.has(socket)) return;
    const mapped = clientErrorOf(error);
    logger.debug({ err: error, statusCode: mapped.status }, 'client error');
    if (socket.writable) socket.write(rawResponse(mapped));
    linger(socket, socket, options.lingerBytes, Math.min(options.requestTimeoutMs, 5_000));
  };
}

function clientErrorOf(error: NodeJS.ErrnoException): MappedError {
  if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT')
    return { status: 408, code: 'request_timeout', message: 'the request was not received in time' };
  if (error.code === 'HPE_HEADER_OVERFLOW') return { status: 431, code: 'headers_too_large', message: 'the request headers are too large' };
  return { status: 400, code: 'invalid_request', message: 'malformed HTTP request' };
}

/** fastify's frameworkErrors: its router's own errors (a malformed URL, an over-long parameter) in the API's shape. */
export function frameworkErrorHandler(error: Error & { code?: string }, _request: FastifyRequest, reply: FastifyReply): void {
  const mapped: MappedError =
    error.code === 'FST_ERR_MAX_PARAM_LENGTH'
      ? { status: 414, code: 'uri_too_long', message: 'a path parameter is too long' }
      : error.code === 'FST_ERR_BAD_URL'
        ? { status: 400, code: 'invalid_request', message: 'malformed URL' }
        : mapError(error);
  void reply.code(mapped.status).send(errorBody(mapped));
}
