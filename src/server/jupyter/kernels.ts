import type { FastifyInstance } from 'fastify';
import { tenantOf } from '../context.js';
import type { KernelManager } from './manager.js';

interface KernelParams {
  kernelId: string;
}

/**
 * The kernels of Jupyter Server's REST API, for the caller's tenant. The request body's `name` is
 * taken as `python3` whatever it says (there is one kernelspec) and its `env` is never read nor
 * logged: jupyter_server's gateway client sends its whole environment there.
 */
export function kernelRoutes(app: FastifyInstance, manager: KernelManager): void {
  app.get('/kernels', async (request) => manager.listEverywhere(tenantOf(request)));

  app.post('/kernels', async (request, reply) => {
    const kernel = await manager.create(tenantOf(request));
    return reply.code(201).header('location', `/api/kernels/${kernel.id}`).send(manager.model(kernel));
  });

  app.get<{ Params: KernelParams }>('/kernels/:kernelId', async (request) =>
    manager.model(manager.get(tenantOf(request), request.params.kernelId)),
  );

  app.delete<{ Params: KernelParams }>('/kernels/:kernelId', async (request, reply) => {
    await manager.delete(tenantOf(request), request.params.kernelId);
    return reply.code(204).send();
  });

  app.post<{ Params: KernelParams }>('/kernels/:kernelId/interrupt', async (request, reply) => {
    manager.get(tenantOf(request), request.params.kernelId).interrupt();
    return reply.code(204).send();
  });

  app.post<{ Params: KernelParams }>('/kernels/:kernelId/restart', async (request) => {
    return manager.model(await manager.restart(tenantOf(request), request.params.kernelId));
  });
}
