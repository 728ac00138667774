import type { FastifyInstance } from 'fastify';
import type { WebSocket } from 'ws';
import { tenantOf } from './context.js';
import { errorBody, HttpError, mapError } from './errors.js';
import type { NamedSession, SessionRegistry } from './registry.js';
import { sessionParamsSchema } from './schemas.js';
import { StreamPump, type PumpOptions } from './stream-pump.js';

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
  if (typeof m.id !== 'string' || m.id === '' || m.id.length > 200)
    throw new HttpError(400, 'invalid_request', 'id must be a non-empty string');
  if (typeof m.code !== 'string') throw new HttpError(400, 'invalid_request', 'code must be a string');
  const { timeoutMs } = m;
  if (timeoutMs !== undefined && (typeof timeoutMs !== 'number' || !Number.isInteger(timeoutMs) || timeoutMs < 1)) {
    throw new HttpError(400, 'invalid_request', 'timeoutMs must be a positive integer');
  }
  return { type: 'execute', id: m.id, code: m.code, ...(timeoutMs !== undefined ? { timeoutMs } : {}) };
}

/** `?since=SEQ`: a non-negative integer, or absent (null). */
function sinceOf(query: unknown): number | null {
  const since = (query as Record<string, unknown> | undefined)?.since;
  if (since === undefined) return null;
  if (typeof since !== 'string' || !/^\d{1,15}$/.test(since))
    throw new HttpError(400, 'invalid_request', 'since must be a non-negative integer');
  return Number(since);
}

/**
 * GET /v1/sessions/:id/stream. Auth and ownership are checked before the upgrade (401/404 as plain
 * HTTP). The socket is only a view of the session's log: it gets every execution's events as they
 * are logged (after `since` first, when given), whoever started them; closing it leaves the session
 * and any running execution alone, and a new socket can pick the session up where it left.
 */
export function streamRoute(app: FastifyInstance, registry: SessionRegistry, pumpOptions: PumpOptions): void {
  app.get<{ Params: { id: string } }>(
    '/sessions/:id/stream',
    {
      websocket: true,
      schema: { params: sessionParamsSchema },
      preValidation: async (request) => {
        request.sessionId = request.params.id;
        registry.get(tenantOf(request), request.params.id);
        sinceOf(request.query);
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
        send({ type: 'error', ...(id !== undefined ? { id } : {}), status: mapped.status, ...errorBody(mapped) });
      };

      try {
        new StreamPump(socket, registry.get(tenant, sessionId).log, sinceOf(request.query), pumpOptions);
      } catch (error) {
        // The session went between the upgrade's checks and now.
        fail(error);
        socket.close();
        return;
      }

      socket.on('message', (data, isBinary) => {
        let message: ClientMessage;
        try {
          if (isBinary) throw new HttpError(400, 'invalid_request', 'messages must be text');
          message = parse(Buffer.isBuffer(data) ? data.toString('utf8') : Buffer.concat(data as Buffer[]).toString('utf8'));
        } catch (error) {
          fail(error);
          return;
        }
        let entry: NamedSession;
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
        try {
          // The output (streams and displays), result or error reach this socket (and every other on the session) through the log.
          const execution = registry.execute(entry, code, {
            ...(timeoutMs !== undefined ? { timeoutMs } : {}),
            execId: id,
            collectOutput: false,
          });
          execution.catch(() => undefined);
        } catch (error) {
          fail(error, id);
        }
      });
      socket.on('close', () => log.info('stream closed'));
      socket.on('error', (error) => log.warn({ err: error }, 'stream socket error'));
    },
  );
}
