import type { FastifyInstance } from 'fastify';
import type { ServerMetrics } from '../metrics.js';
import { openApiDocument } from '../openapi.js';
import type { SessionRegistry } from '../registry.js';

/** Unauthenticated routes: health, readiness, Prometheus metrics, the OpenAPI document. */
export function systemRoutes(
  app: FastifyInstance,
  registry: SessionRegistry,
  metrics: ServerMetrics,
  isReady: () => boolean,
  /** Said on every ready answer, e.g. that sessions are not sandboxed. */
  warnings: string[],
): void {
  app.get('/healthz', async () => ({ status: 'ok' }));

  app.get('/readyz', async (_request, reply) => {
    const state = registry.state;
    if (isReady() && state === 'open') return { status: 'ready', ...(warnings.length > 0 ? { warnings } : {}) };
    const why = state === 'closing' ? 'shutting down' : state === 'draining' ? 'draining: no new sessions' : 'pool not started';
    return reply.code(503).send({ error: { code: state === 'draining' ? 'draining' : 'not_ready', message: why } });
  });

  app.get('/metrics', async (_request, reply) => {
    const text = await metrics.registry.metrics();
    return reply.type(metrics.registry.contentType).send(text);
  });

  app.get('/openapi.json', async () => openApiDocument);
}
