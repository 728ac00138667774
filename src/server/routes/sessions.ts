import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { tenantOf } from '../context.js';
import { NotFoundError } from '../refusals.js';
import type { SessionRegistry } from '../registry.js';
import {
  createdSessionSchema,
  errorSchema,
  executeBodySchema,
  executionParamsSchema,
  executionSchema,
  resultSchema,
  sessionListSchema,
  sessionParamsSchema,
  sessionSchema,
} from '../schemas.js';

interface IdParams {
  id: string;
}
interface ExecuteBody {
  code: string;
  timeoutMs?: number;
}

const errors = { '4xx': errorSchema, '5xx': errorSchema };

/** Named sessions: create, list, get, delete, execute, interrupt. Mounted under /v1 behind auth. */
export function sessionRoutes(app: FastifyInstance, registry: SessionRegistry): void {
  app.post('/sessions', { schema: { response: { 201: createdSessionSchema, ...errors } } }, async (request, reply) => {
    const entry = await registry.create(tenantOf(request));
    request.sessionId = entry.id;
    return reply.code(201).send({ id: entry.id, createdAt: entry.createdAt.toISOString() });
  });

  app.get('/sessions', { schema: { response: { 200: sessionListSchema, ...errors } } }, async (request) => {
    return { sessions: await registry.listEverywhere(tenantOf(request)) };
  });

  app.get<{ Params: IdParams }>(
    '/sessions/:id',
    { schema: { params: sessionParamsSchema, response: { 200: sessionSchema, ...errors } } },
    async (request) => {
      request.sessionId = request.params.id;
      const entry = registry.get(tenantOf(request), request.params.id);
      registry.touch(entry);
      return registry.view(entry);
    },
  );

  app.delete<{ Params: IdParams }>('/sessions/:id', { schema: { params: sessionParamsSchema } }, async (request, reply) => {
    request.sessionId = request.params.id;
    await registry.delete(tenantOf(request), request.params.id);
    return reply.code(204).send();
  });

  app.post<{ Params: IdParams; Body: ExecuteBody }>(
    '/sessions/:id/execute',
    { schema: { params: sessionParamsSchema, body: executeBodySchema, response: { 200: resultSchema, ...errors } } },
    async (request, reply) => {
      request.sessionId = request.params.id;
      const tenant = tenantOf(request);
      const entry = registry.get(tenant, request.params.id);
      const { code, timeoutMs } = request.body;
      request.log.debug({ code }, 'execute');
      const execId = randomUUID();
      void reply.header('x-execution-id', execId);
      return registry.execute(entry, code, { ...(timeoutMs !== undefined ? { timeoutMs } : {}), execId });
    },
  );

  app.get<{ Params: IdParams & { execId: string } }>(
    '/sessions/:id/executions/:execId',
    { schema: { params: executionParamsSchema, response: { 200: executionSchema, ...errors } } },
    async (request) => {
      request.sessionId = request.params.id;
      const execution = registry.get(tenantOf(request), request.params.id).log.execution(request.params.execId);
      if (execution === null) throw new NotFoundError('execution');
      return execution;
    },
  );

  app.post<{ Params: IdParams }>('/sessions/:id/interrupt', { schema: { params: sessionParamsSchema } }, async (request, reply) => {
    request.sessionId = request.params.id;
    registry.interrupt(registry.get(tenantOf(request), request.params.id));
    return reply.code(202).send({ interrupted: true });
  });
}
