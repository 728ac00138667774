/**
 * Why the session registry refuses a request. These are domain errors: they say what happened and
 * nothing of HTTP. The service's error mapping (mapError in errors.ts) gives each its status, code
 * and Retry-After.
 */
export class RegistryRefusal extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** What a tenant is at the limit of: named sessions on this node or across nodes, or executions at once. */
export type Quota = 'sessions' | 'sessionsAcrossNodes' | 'executions';

/** The tenant is at one of its quotas; it may try again once a session or an execution has ended. */
export class QuotaExceededError extends RegistryRefusal {
  constructor(
    readonly tenant: string,
    readonly quota: Quota,
    readonly limit: number,
  ) {
    super(
      quota === 'executions'
        ? `tenant ${tenant} already runs its ${limit} executions`
        : `tenant ${tenant} already holds its ${limit} sessions${quota === 'sessionsAcrossNodes' ? ' across nodes' : ''}`,
    );
  }
}

/** No such session of this tenant (another tenant's is not found either), or no such execution of it. */
export class NotFoundError extends RegistryRefusal {
  constructor(readonly what: 'session' | 'execution' = 'session') {
    super(`${what} not found`);
  }
}

/** A session (or Jupyter kernel) id names another node: whoever routed the request sent it to the wrong one. */
export class SessionElsewhereError extends RegistryRefusal {
  constructor(
    readonly sessionId: string,
    readonly node: string,
    here: string,
    what: 'session' | 'kernel' = 'session',
  ) {
    super(`${what} ${sessionId} lives on node ${node}, not on ${here}`);
  }
}

/** A session (or Jupyter kernel) id names an earlier start of this node: its state died with that process. */
export class SessionLostError extends RegistryRefusal {
  constructor(
    readonly sessionId: string,
    node: string,
    what: 'session' | 'kernel' = 'session',
  ) {
    super(`${what} ${sessionId} was lost when node ${node} restarted`);
  }
}

/** The store shared by nodes (tenant quotas, listings) does not answer, so the request cannot be decided. */
export class QuotaStoreUnavailableError extends RegistryRefusal {}

/** The server is shutting down: it takes no new work. */
export class ShuttingDownError extends RegistryRefusal {
  constructor() {
    super('the server is shutting down');
  }
}

/** The node is draining: it takes no new sessions or one-shots; the sessions it has keep working. */
export class DrainingError extends RegistryRefusal {
  constructor() {
    super('this node is draining: it takes no new sessions');
  }
}
