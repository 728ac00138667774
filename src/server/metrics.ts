import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { PoolMetrics, SessionPool } from '../index.js';
import type { NodeIdentity } from './node-identity.js';
import type { RegistryObserver } from './registry.js';

/** Cumulative pool counters: pool.metrics() key → [metric name, help]. */
const POOL_COUNTERS: [keyof PoolMetrics, string, string][] = [
  ['acquisitions', 'pyrepl3_pool_acquisitions_total', 'Sessions granted by the pool'],
  ['poolHits', 'pyrepl3_pool_hits_total', 'Acquires served at once from an idle session'],
  ['poolMisses', 'pyrepl3_pool_misses_total', 'Acquires that had to wait'],
  ['timeouts', 'pyrepl3_pool_acquire_timeouts_total', 'Acquires that timed out'],
  ['created', 'pyrepl3_pool_sessions_created_total', 'Sessions created'],
  ['creationFailures', 'pyrepl3_pool_creation_failures_total', 'Session creations that failed'],
  ['died', 'pyrepl3_pool_sessions_died_total', 'Sessions that died unexpectedly'],
];

export interface ServerMetrics extends RegistryObserver {
  readonly registry: Registry;
  request(method: string, route: string, status: number, seconds: number): void;
  /** Round trips to the leases' store (Redis), and the commands that failed. */
  readonly leases: { latency(seconds: number): void; failure(): void };
}

/**
 * Prometheus metrics on a Registry of their own (never prom-client's global one), so several
 * servers in one process do not collide. Pool figures are read from pool.metrics() at scrape time.
 */
export function createMetrics(pool: SessionPool, namedSessions: () => number, identity: NodeIdentity): ServerMetrics {
  const registry = new Registry();
  new Gauge({
    name: 'pyrepl3_node_info',
    help: 'This node and this start of it (1)',
    labelNames: ['node', 'epoch'] as const,
    registers: [registry],
  }).set({ node: identity.node, epoch: identity.epoch }, 1);
  new Gauge({
    name: 'pyrepl3_pool_sessions',
    help: 'Pool sessions by state',
    labelNames: ['state'] as const,
    registers: [registry],
    collect() {
      const m = pool.metrics();
      for (const state of ['idle', 'busy', 'starting', 'stopping'] as const) this.set({ state }, m[state]);
    },
  });
  new Gauge({
    name: 'pyrepl3_pool_waiting',
    help: 'Acquires waiting for a session',
    registers: [registry],
    collect() {
      this.set(pool.metrics().waiting);
    },
  });
  new Gauge({
    name: 'pyrepl3_named_sessions',
    help: 'Named sessions held by tenants',
    registers: [registry],
    collect() {
      this.set(namedSessions());
    },
  });
  for (const [key, name, help] of POOL_COUNTERS) {
    new Counter({
      name,
      help,
      registers: [registry],
      collect() {
        this.reset();
        this.inc(pool.metrics()[key]);
      },
    });
  }
  const acquireWait = new Histogram({
    name: 'pyrepl3_acquire_wait_seconds',
    help: 'Time the server waited for the pool to grant a session',
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'pyrepl3_execution_duration_seconds',
    help: 'Execution time seen by the server, by kind',
    labelNames: ['kind'] as const,
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [registry],
  });
  const executions = new Counter({
    name: 'pyrepl3_executions_total',
    help: 'Executions by kind and outcome (ok, error, interrupted, timeout, or the error that ended them)',
    labelNames: ['kind', 'outcome'] as const,
    registers: [registry],
  });
  const requests = new Counter({
    name: 'pyrepl3_http_requests_total',
    help: 'HTTP requests by method, route and status',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [registry],
  });
  const requestDuration = new Histogram({
    name: 'pyrepl3_http_request_duration_seconds',
    help: 'HTTP request duration by route',
    labelNames: ['route'] as const,
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
  });
  const leaseLatency = new Histogram({
    name: 'pyrepl3_redis_latency_seconds',
    help: 'Round trips to Redis for tenant leases and listings',
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1],
    registers: [registry],
  });
  const leaseFailures = new Counter({
    name: 'pyrepl3_quota_lease_failures_total',
    help: 'Redis lease commands that failed',
    registers: [registry],
  });
  return {
    registry,
    leases: { latency: (seconds) => leaseLatency.observe(seconds), failure: () => leaseFailures.inc() },
    acquired(seconds) {
      acquireWait.observe(seconds);
    },
    executed(kind, outcome, seconds) {
      duration.observe({ kind }, seconds);
      executions.inc({ kind, outcome });
    },
    request(method, route, status, seconds) {
      requests.inc({ method, route, status: String(status) });
      requestDuration.observe({ route }, seconds);
    },
  };
}
