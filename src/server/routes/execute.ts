import type { FastifyInstance } from 'fastify';
import { tenantOf } from '../context.js';
import type { SessionRegistry } from '../registry.js';
import { errorSchema, executeBodySchema, resultSchema } from '../schemas.js';

interface ExecuteBody {
  code: string;
  timeoutMs?: number;
}

/** POST /v1/execute: a one-shot run on a session from the pool, destroyed afterwards. */
export function executeRoute(app: FastifyInstance, registry: SessionRegistry): void {
  app.post<{ Body: ExecuteBody }>(
    '/execute',
    { schema: { body: executeBodySchema, response: { 200: resultSchema, '4xx': errorSchema, '5xx': errorSchema } } },
    async (request) => {
      const { code, timeoutMs } = request.body;
      request.log.debug({ code }, 'one-shot execute');
      return registry.runOnce(tenantOf(request), code, timeoutMs !== undefined ? { timeoutMs } : {});
    },
  );
}
