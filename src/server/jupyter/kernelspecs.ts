import type { FastifyInstance } from 'fastify';
import { JupyterError } from './errors.js';
import { KERNEL_NAME } from './manager.js';

/** The one kernelspec. Only metadata for remote kernels: no argv, the pool starts the processes. */
const SPEC = {
  name: KERNEL_NAME,
  spec: {
    argv: [],
    display_name: 'Python 3 (PyREPL3)',
    language: 'python',
    interrupt_mode: 'signal',
    env: {},
    metadata: {},
  },
  resources: {},
};

/** GET /api/kernelspecs and /api/kernelspecs/{name}: the pool, as kernelspec `python3`. */
export function kernelspecRoutes(app: FastifyInstance): void {
  app.get('/kernelspecs', async () => ({ default: KERNEL_NAME, kernelspecs: { [KERNEL_NAME]: SPEC } }));
  app.get<{ Params: { name: string } }>('/kernelspecs/:name', async (request) => {
    if (request.params.name !== KERNEL_NAME) throw new JupyterError(404, `Kernel spec ${request.params.name} not found`);
    return SPEC;
  });
}
