import type { FastifyInstance } from 'fastify';
import type { WebSocket } from 'ws';
import { tenantOf } from './context.js';
import { errorBody, HttpError, mapError } from './errors.js';
import type { SessionRegistry } from './registry.js';
import { sessionParamsSchema } from './schemas.js';

/** Client → server messages. */
export type ClientMessage = { type: 'execute'; id: string; code: string; timeoutMs?: number } | { type: 'interrupt' };

function parse(raw: string): ClientMessage {
  let message: unknown;
  try {
    message = JSON.parse(raw);
  } catch {
    throw new HttpError(400, 'invalid_request', 'messages must be JSON');
  }
  const m = message as Record<string, unknown> | null;
  if (typeof m !== 'object' || m === null) throw new HttpError(400, 'invalid_request', 'a message must be an object');
  if (m.type === 'interrupt') return { type: 'interrupt' };
  if (m.type !== 'execute') throw new HttpError(400, 'invalid_request', 'type must be "execute" or "interrupt"');
  if (typeof m.id !== 'string' || m.id === '' || m.id.length > 200) throw new HttpError(400, 'invalid_request', 'id must be a non-empty string');
  if (typeof m.code !== 'string') throw new HttpError(400, 'invalid_request', 'code must be a string');
  const { timeoutMs } = m;
  if (timeoutMs !== undefined && (typeof timeoutMs !== 'number' || !Number.isInteger(timeoutMs) || timeoutMs < 1)) {
    throw new HttpError(400, 'invalid_request', 'timeoutMs must be a positive integer');
  }
  return { type: 'execute', id: m.id, code: m.code, ...(timeoutMs !== undefined ? { timeoutMs } : {}) };
}

/**
 * GET /v1/sessions/:id/stream. Auth and ownership are checked before the upgrade (401/404 as plain
 * HTTP). The socket is only a view of the session: closing it leaves the session and any running
 * execution alone, and a new socket can pick the session up.
 */
export function streamRoute(app: FastifyInstance, registry: SessionRegistry): void {
  app.get<{ Params: { id: string } }>(
    '/sessions/:id/stream',
    {
      websocket: true,
      schema: { params: sessionParamsSchema },
      preValidation: async (request) => {
        request.sessionId = request.params.id;
        registry.get(tenantOf(request), request.params.id);
      },
    },
    (socket: WebSocket, request) => {
      request.raw.socket.setNoDelay(true);
      const tenant = tenantOf(request);
      const sessionId = request.params.id;
      const log = request.log.child({ tenant: tenant.name, sessionId });
      log.info('stream opened');
      const send = (message: unknown): void => {
        if (socket.readyState === socket.OPEN) socket.send(JSON.stringify(message));
      };
      const fail = (error: unknown, id?: string): void => {
        const mapped = mapError(error);
        if (mapped.status >= 500) log.warn({ err: error }, 'stream execution failed');
        send({ type: 'error', ...(id !== undefined ? { id } : {}), ...errorBody(mapped) });
      };

      socket.on('message', (data, isBinary) => {
        let message: ClientMessage;
        try {
          if (isBinary) throw new HttpError(400, 'invalid_request', 'messages must be text');
          message = parse(Buffer.isBuffer(data) ? data.toString('utf8') : Buffer.concat(data as Buffer[]).toString('utf8'));
        } catch (error) {
          fail(error);
          return;
        }
        let entry;
        try {
          entry = registry.get(tenant, sessionId);
        } catch (error) {
          fail(error, message.type === 'execute' ? message.id : undefined);
          return;
        }
        if (message.type === 'interrupt') {
          registry.interrupt(entry);
          return;
        }
        const { id, code, timeoutMs } = message;
        registry
          .execute(entry, code, {
            ...(timeoutMs !== undefined ? { timeoutMs } : {}),
            onOutput: (chunk) => send(chunk.type === 'stream' ? { type: 'output', id, stream: chunk.stream, text: chunk.text } : { type: 'display', id, output: chunk }),
          })
          .then(
            (result) => send({ type: 'result', id, result }),
            (error: unknown) => fail(error, id),
          );
      });
      socket.on('close', () => log.info('stream closed'));
      socket.on('error', (error) => log.warn({ err: error }, 'stream socket error'));
    },
  );
}
