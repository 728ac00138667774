import type { Logger } from 'pino';
import type { KernelModel } from '../jupyter/manager.js';
import { requirePeers } from '../../peers.js';
import type { NodeIdentity } from '../node-identity.js';

/** What a node publishes of one of its sessions, for listings across nodes. */
export interface PublishedSession {
  tenant: string;
  view: { id: string; createdAt: string; lastUsedAt: string; executing: boolean };
  /** The Jupyter kernel the session serves, if it serves one: kernels are listed across nodes too. */
  kernel?: KernelModel;
}

/** A session as its node last published it. */
export type Published = Omit<PublishedSession, 'tenant'>;

const record = ({ view, kernel }: PublishedSession): string => JSON.stringify({ view, kernel });

/** The store could not answer: creates fail closed (503 quota_unavailable) unless configured to fail open. */
export class LeasesUnavailableError extends Error {}

export interface LeaseOptions {
  url: string;
  identity: NodeIdentity;
  logger: Logger;
  /** A lease not renewed for this long is gone: a dead node's sessions stop counting. Default 3 000. */
  ttlMs?: number;
  /** How often this node renews its leases and republishes its sessions. Default 1 000. */
  renewMs?: number;
  /** This node's sessions now. */
  sessions: () => PublishedSession[];
  /** Reports each round trip's seconds and each failure, for metrics. */
  observe?: { latency(seconds: number): void; failure(): void };
}

// A tenant's leases are a sorted set of session ids scored by expiry (Redis' own clock). Taking one
// drops the expired, counts the rest and adds, in one script: 30 concurrent creates on 3 nodes
// cannot all see room.
const TAKE = `
local now = redis.call('TIME')
local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ms)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], ms + tonumber(ARGV[2]), ARGV[3])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]) * 2)
redis.call('HSET', KEYS[2], ARGV[3], ARGV[4])
redis.call('PEXPIRE', KEYS[2], tonumber(ARGV[2]) * 2)
return 1`;

// The tenant's live leases, by Redis' own clock.
const LIVE = `
local now = redis.call('TIME')
local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
return redis.call('ZRANGEBYSCORE', KEYS[1], ms, '+inf')`;

// Renews this node's leases (only those still held: XX) and republishes their views.
const RENEW = `
local now = redis.call('TIME')
local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
for i = 1, #KEYS, 2 do
  redis.call('ZADD', KEYS[i], 'XX', ms + tonumber(ARGV[1]), ARGV[i + 1])
  redis.call('PEXPIRE', KEYS[i], tonumber(ARGV[1]) * 2)
  redis.call('HSET', KEYS[i + 1], ARGV[i + 1], ARGV[i + 2])
  redis.call('PEXPIRE', KEYS[i + 1], tonumber(ARGV[1]) * 2)
end
return 1`;

const leasesKey = (tenant: string): string => `pyrepl3:leases:{${tenant}}`;
const viewsKey = (tenant: string): string => `pyrepl3:views:{${tenant}}`;
const NODES_KEY = 'pyrepl3:nodes';

/**
 * Tenant quotas and listings across nodes, on Redis. Each session holds a lease with a TTL that its
 * node renews about every second; a dead node's leases expire on their own. Routing never reads
 * Redis: it is off the execute path.
 */
export class SessionLeases {
  readonly #client;
  readonly #ttlMs: number;
  readonly #timer: NodeJS.Timeout;

  /**
   * Connects in the background (commands fail as LeasesUnavailableError until it has). redis is an
   * optional peer dependency of pyrepl3, imported only here: without it this throws MissingDependencyError.
   */
  static async open(options: LeaseOptions): Promise<SessionLeases> {
    await requirePeers('redisUrl (quotas shared through Redis, pyrepl3 serve --redis-url)', ['cluster']);
    return new SessionLeases(options, await import('redis'));
  }

  private constructor(
    private readonly options: LeaseOptions,
    redis: typeof import('redis'),
  ) {
    this.#ttlMs = options.ttlMs ?? 3_000;
    this.#client = redis.createClient({
      url: options.url,
      socket: { connectTimeout: 1_000, reconnectStrategy: (retries: number) => Math.min(100 * 2 ** retries, 1_000) },
      // A command while Redis is down fails at once instead of waiting in a queue for it.
      disableOfflineQueue: true,
    });
    this.#client.on('error', (error: Error) => options.logger.debug({ err: error }, 'redis'));
    void this.#client.connect().catch((error: unknown) => options.logger.warn({ err: error }, 'redis: not connected; retrying'));
    this.#timer = setInterval(() => void this.#renew(), options.renewMs ?? 1_000);
    this.#timer.unref();
  }

  /** A lease for a new session if the tenant holds fewer than `max` across nodes; listed everywhere from then on. */
  async take(session: PublishedSession, max: number): Promise<boolean> {
    const { tenant, view } = session;
    const taken = await this.#call(() =>
      this.#client.eval(TAKE, {
        keys: [leasesKey(tenant), viewsKey(tenant)],
        arguments: [String(max), String(this.#ttlMs), view.id, record(session)],
      }),
    );
    return taken === 1;
  }

  release(tenant: string, sessionId: string): void {
    void this.#call(() => this.#client.zRem(leasesKey(tenant), sessionId)).catch(() => undefined);
    void this.#call(() => this.#client.hDel(viewsKey(tenant), sessionId)).catch(() => undefined);
  }

  /** The tenant's sessions on every node, as their nodes last published them (at most renewMs old). */
  async list(tenant: string): Promise<Published[]> {
    const [ids, views] = await this.#call(() =>
      Promise.all([this.#client.eval(LIVE, { keys: [leasesKey(tenant)] }) as Promise<string[]>, this.#client.hGetAll(viewsKey(tenant))]),
    );
    return ids.flatMap((id) => (views[id] === undefined ? [] : [JSON.parse(views[id]) as Published]));
  }

  async close(): Promise<void> {
    clearInterval(this.#timer);
    await this.#client.quit().catch(() => undefined);
  }

  async #renew(): Promise<void> {
    const sessions = this.options.sessions();
    const { node, epoch } = this.options.identity;
    try {
      await this.#call(() =>
        this.#client.hSet(NODES_KEY, node, JSON.stringify({ epoch, sessions: sessions.length, seenAt: new Date().toISOString() })),
      );
      if (sessions.length === 0) return;
      const keys = sessions.flatMap((s) => [leasesKey(s.tenant), viewsKey(s.tenant)]);
      const args = [String(this.#ttlMs), ...sessions.flatMap((s) => [s.view.id, record(s)])];
      await this.#call(() => this.#client.eval(RENEW, { keys, arguments: args }));
    } catch {
      // Logged by #call; the next round tries again, within the lease's TTL.
    }
  }

  async #call<T>(command: () => Promise<T>): Promise<T> {
    const started = process.hrtime.bigint();
    try {
      const result = await command();
      this.options.observe?.latency(Number(process.hrtime.bigint() - started) / 1e9);
      return result;
    } catch (error) {
      this.options.observe?.failure();
      this.options.logger.warn({ err: error }, 'redis: a lease command failed');
      throw new LeasesUnavailableError(error instanceof Error ? error.message : String(error));
    }
  }
}
