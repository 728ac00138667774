import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { mapError } from '../errors.js';

/** An error of the Jupyter routes, which answer in Jupyter Server's shape: `{ message, reason }`. */
export class JupyterError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
  ) {
    super(message);
    this.name = 'JupyterError';
  }
}

export interface JupyterErrorBody {
  message: string;
  reason: string | null;
}

/**
 * The Jupyter routes' error handler: Jupyter clients read `message` (jupyter_server's gateway
 * client raises it), so these routes use Jupyter Server's body rather than the service's
 * `{ error: { code, message } }`; `reason` carries the service's error code.
 */
export function jupyterErrorHandler(error: FastifyError | Error, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  if (error instanceof JupyterError)
    return reply.code(error.statusCode).send({ message: error.message, reason: null } satisfies JupyterErrorBody);
  const mapped = mapError(error);
  if (mapped.status >= 500) request.log.error({ err: error, tenant: request.tenant?.name }, 'jupyter request failed');
  return reply.code(mapped.status).send({ message: mapped.message, reason: mapped.code } satisfies JupyterErrorBody);
}
