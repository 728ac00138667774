import type { Tenant } from './auth.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The authenticated tenant; set by the /v1 auth hook. */
    tenant: Tenant | null;
    /** The named session the request is about, for logs. */
    sessionId: string | null;
  }
}

/** The tenant of an authenticated request; routes under /v1 always have one. */
export function tenantOf(request: { tenant: Tenant | null }): Tenant {
  if (request.tenant === null) throw new Error('route reached without authentication');
  return request.tenant;
}
