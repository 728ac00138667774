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
    if (isReady() && !registry.draining) return { status: 'ready', ...(warnings.length > 0 ? { warnings } : {}) };
    return reply.code(503).send({ error: { code: 'not_ready', message: registry.draining ? 'shutting down' : 'pool not started' } });
  });

  app.get('/metrics', async (_request, reply) => {
    const text = await metrics.registry.metrics();
    return reply.type(metrics.registry.contentType).send(text);
  });

  app.get('/openapi.json', async () => openApiDocument);
}
