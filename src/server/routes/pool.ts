import type { FastifyInstance } from 'fastify';
import type { SessionPool } from '../../index.js';
import { tenantOf } from '../context.js';
import type { SessionRegistry } from '../registry.js';
import { errorSchema, poolSnapshotSchema } from '../schemas.js';

/**
 * GET /v1/pool: pool.snapshot() with each session's owner. An admin token sees everything; a
 * tenant sees the pool's state, capacity and counters, and only its own sessions (named ones and
 * one-shot runs in progress): no other tenant's sessions, no waiters, no template, no pool id.
 */
export function poolRoute(app: FastifyInstance, pool: SessionPool, registry: SessionRegistry): void {
  app.get('/pool', { schema: { response: { 200: poolSnapshotSchema, '4xx': errorSchema, '5xx': errorSchema } } }, async (request) => {
    const tenant = tenantOf(request);
    const snapshot = pool.snapshot();
    const owners = registry.owners();
    const sessions = snapshot.sessions.map((session) => ({ ...session, owner: owners.get(session.id) ?? null }));
    if (tenant.admin) return { view: 'admin', ...snapshot, sessions };
    return {
      view: 'tenant',
      state: snapshot.state,
      capacity: snapshot.capacity,
      metrics: snapshot.metrics,
      sessions: sessions.filter((session) => session.owner?.tenant === tenant.name),
    };
  });
}
