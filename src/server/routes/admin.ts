import type { FastifyInstance } from 'fastify';
import { tenantOf } from '../context.js';
import { HttpError } from '../errors.js';
import { errorSchema } from '../schemas.js';

/** POST /v1/admin/drain (admin tokens only): the node takes no new sessions; `drain` says what happens next. */
export function adminRoutes(app: FastifyInstance, drain: () => void): void {
  app.post(
    '/admin/drain',
    {
      schema: { response: { 202: { type: 'object', properties: { status: { type: 'string' } } }, '4xx': errorSchema, '5xx': errorSchema } },
    },
    async (request, reply) => {
      if (!tenantOf(request).admin) throw new HttpError(403, 'forbidden', 'draining a node needs an admin token');
      drain();
      return reply.code(202).send({ status: 'draining' });
    },
  );
}
