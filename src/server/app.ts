import { randomUUID } from 'node:crypto';
import type { Socket } from 'node:net';
import websocket from '@fastify/websocket';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyRequest } from 'fastify';
import pino, { type Logger } from 'pino';
import { InvalidOptionError, SessionPool, type SessionPoolOptions } from '../index.js';
import { Authenticator, randomToken, type TenantDefaults, type TenantToken } from './auth.js';
import './context.js';
import { answerBody, errorBody, HttpError, mapError } from './errors.js';
import { answerBeforeBody, clientErrorHandler, frameworkErrorHandler, httpServerOptions, type HygieneOptions } from './hygiene.js';
import { removeLeftoverSessionFolders } from './leftovers.js';
import { startInspector, type InspectorRelay } from './inspector.js';
import { createMetrics, type ServerMetrics } from './metrics.js';
import { SessionLeases } from './cluster/leases.js';
import { requirePeers, type PeerGroup } from '../peers.js';
import { nodeIdentity, type NodeIdentity } from './node-identity.js';
import { SessionRegistry } from './registry.js';
import { jupyterRoutes } from './jupyter/index.js';
import type { KernelManager } from './jupyter/manager.js';
import { selectSubprotocol } from './jupyter/v1.js';
import { executeRoute } from './routes/execute.js';
import { fileRoutes } from './routes/files.js';
import { adminRoutes } from './routes/admin.js';
import { poolRoute } from './routes/pool.js';
import { sessionRoutes } from './routes/sessions.js';
import { systemRoutes } from './routes/system.js';
import { streamRoute } from './websocket.js';

export interface ServerOptions {
  /** A pool to use; the server then does not shut it down on close(). Otherwise one is made from poolOptions. */
  pool?: SessionPool;
  poolOptions?: SessionPoolOptions;
  /** Tenants and their tokens. Absent: one tenant, "default", with a random admin token (see generatedToken). */
  tokens?: TenantToken[];
  /** Quotas of tenants whose token names none. Default 4 named sessions and 4 executions at once. */
  tenantDefaults?: Partial<TenantDefaults>;
  /** Named sessions unused this long are culled. Default 30 min. */
  idleTimeoutMs?: number;
  /** How long a request waits for the pool to grant a session before 503. Default 10 000. */
  acquireTimeoutMs?: number;
  /** The deadline of every execution that asks for none. Default 60 000. */
  timeoutMs?: number;
  /** The longest deadline a client may ask for; longer ones are cut to it. Default 3 600 000. */
  maxTimeoutMs?: number;
  /** Largest request body, and WebSocket message, in bytes (413 above it). Default 1 MiB. */
  bodyLimit?: number;
  /** Time to receive a whole request, body included (408 after it). Default 30 000. */
  requestTimeoutMs?: number;
  /** Time to receive a request's headers. Default 10 000. */
  headersTimeoutMs?: number;
  /** Largest request head in bytes (431 above it). Default 16 KiB. */
  maxHeaderBytes?: number;
  /**
   * After answering a request whose body it has not read (401, 413), how many body bytes the server reads and discards so the client gets
   * the answer. Default 64 MiB.
   */
  lingerBytes?: number;
  /** Per WebSocket client, output waiting to be taken by the client before the server waits. Default 8 MiB. */
  streamBufferBytes?: number;
  /** A WebSocket client whose buffer stays full this long is closed (code 4001). Default 60 000. */
  streamStuckMs?: number;
  /**
   * Per named session, the stream kept for clients that reconnect (?since=), in characters. Default
   * 2 Mi: kept events outlive the heap's young generation, so a larger log leaves more old garbage
   * under a flood of output (4 Mi: about 45 MiB more peak memory for 20 executions of 60 MiB).
   */
  streamLogChars?: number;
  /** Largest code in bytes (413 above it); also given to a pool the server makes. Default 512 KiB. */
  maxCodeBytes?: number;
  /** On close(), how long running executions may finish before they are interrupted. Default 10 000. */
  shutdownGraceMs?: number;
  /** A pino logger. Default: pino at logLevel on stdout. */
  logger?: Logger;
  /** Default 'info'. Code and output are logged only at 'debug'. */
  logLevel?: string;
  /**
   * Start the XState inspector (on 127.0.0.1) and attach it to the pool's supervisor and every
   * session. Only for a pool the server makes. `true`: on a free port. Default off (inspection
   * costs 2-3x per event, and the events carry every tenant's code and output).
   */
  inspect?: boolean | { port?: number };
  /**
   * Also serve the Jupyter API under /t/<token>/api, for clients that send no credential on the
   * kernel WebSocket (nbclient through jupyter_server's GatewayKernelManager). Default off.
   */
  jupyterUrlToken?: boolean;
  /** Called once when the node starts draining (drain(), POST /v1/admin/drain), with the promise of its end. */
  onDrain?: (drained: Promise<void>) => void;
  /**
   * Redis for what nodes must share: tenant quotas (a lease per session) and listings across nodes.
   * Absent, a node's quotas and listings are its own. Routing never reads it.
   */
  redisUrl?: string;
  /** With redisUrl, while Redis does not answer: let creates through on this node's quotas. Default false (503 quota_unavailable). */
  quotaFailOpen?: boolean;
  /** This node's name in session ids (`<node>.<epoch>.<uuid>`), e.g. a StatefulSet ordinal. Default: the host name. */
  nodeId?: string;
}

export interface PyRepl3Server {
  app: FastifyInstance;
  /** This node and this start of it, as session ids carry them. */
  identity: NodeIdentity;
  pool: SessionPool;
  registry: SessionRegistry;
  metrics: ServerMetrics;
  logger: Logger;
  /** The random token made when no tokens were given (an admin token); null otherwise. */
  generatedToken: string | null;
  /** The inspector relay when `inspect` was set: open `url` in a browser, or read `wsUrl`. */
  inspector: InspectorRelay | null;
  /** Listens and resolves to the base URL, e.g. http://127.0.0.1:8000. */
  listen(options?: { host?: string; port?: number }): Promise<string>;
  /**
   * Graceful stop: refuses new work (503 shutting_down) while the listener stays up, lets running
   * executions finish within graceMs, interrupts the rest, ends every named session, closes the
   * server and (if the server made it) shuts the pool down. Idempotent. `app.close()` alone does
   * the same with no grace period.
   */
  close(options?: { graceMs?: number }): Promise<void>;
  /**
   * Drains the node (also POST /v1/admin/drain): /readyz answers 503, new sessions and one-shots get
   * 503 `draining`, existing sessions keep working. Resolves when no named session is left. Idempotent.
   */
  drain(): Promise<void>;
}

const MiB = 1024 * 1024;

/** Query strings and the Jupyter API's /t/<token>/ mount carry tokens; never log them. */
function redactUrl(url: string): string {
  return url.replace(/([?&]token=)[^&]*/gi, '$1[redacted]').replace(/^\/t\/[^/?]*/, '/t/[redacted]');
}

/**
 * Builds the service: fastify with JSON-schema validation, bearer auth on /v1, the named-session
 * registry, WebSocket streaming and Prometheus metrics, over a pool that stays the only owner of
 * sessions. Starts the pool (resolves when minIdle sessions are ready) but does not listen.
 */
export async function createServer(options: ServerOptions = {}): Promise<PyRepl3Server> {
  const identity = nodeIdentity(options.nodeId);
  const logger = (options.logger ?? pino({ level: options.logLevel ?? 'info' })).child({ node: identity.node });
  const ownsPool = options.pool === undefined;
  let generatedToken: string | null = null;
  let tokens = options.tokens;
  if (tokens === undefined) {
    generatedToken = randomToken();
    tokens = [{ token: generatedToken, tenant: 'default', admin: true }];
  }
  const auth = new Authenticator(tokens, { maxSessions: 4, maxConcurrent: 4, ...options.tenantDefaults });
  if (options.inspect && !ownsPool)
    throw new InvalidOptionError('inspect needs a pool the server makes; give an injected pool its own inspect option');
  // The optional peer dependencies these options need, all named at once and before anything starts.
  const needs: Array<[PeerGroup, string]> = [];
  if (options.inspect) needs.push(['inspector', 'inspect']);
  if (options.redisUrl !== undefined) needs.push(['cluster', 'redisUrl']);
  await requirePeers(
    `createServer's ${needs.map(([, option]) => option).join(' and ')}`,
    needs.map(([group]) => group),
  );
  const inspector = options.inspect
    ? await startInspector({
        ...(typeof options.inspect === 'object' && options.inspect.port !== undefined ? { port: options.inspect.port } : {}),
        logger: logger.child({ component: 'inspector' }),
      })
    : null;
  try {
    return await build(options, identity, logger, auth, generatedToken, inspector);
  } catch (error) {
    await inspector?.close();
    throw error;
  }
}

async function build(
  options: ServerOptions,
  identity: NodeIdentity,
  logger: Logger,
  auth: Authenticator,
  generatedToken: string | null,
  inspector: InspectorRelay | null,
): Promise<PyRepl3Server> {
  const bodyLimit = options.bodyLimit ?? MiB;
  const maxCodeBytes = options.maxCodeBytes ?? 512 * 1024;
  const ownsPool = options.pool === undefined;
  const pool =
    options.pool ??
    new SessionPool({
      ...options.poolOptions,
      limits: { maxCodeBytes, ...options.poolOptions?.limits },
      logger: options.poolOptions?.logger ?? logger.child({ component: 'pool' }),
      ...(inspector !== null ? { inspect: inspector.inspect } : {}),
    });

  let registryRef: SessionRegistry | null = null;
  let kernelsRef: KernelManager | null = null;
  const metrics = createMetrics(pool, () => registryRef?.size ?? 0, identity);
  const leases =
    options.redisUrl === undefined
      ? undefined
      : await SessionLeases.open({
          url: options.redisUrl,
          identity,
          logger: logger.child({ component: 'leases' }),
          sessions: () => {
            const sessions = registryRef?.published() ?? [];
            return kernelsRef === null ? sessions : kernelsRef.withKernels(sessions);
          },
          observe: metrics.leases,
        });
  const registry = new SessionRegistry({
    pool,
    identity,
    ...(leases !== undefined ? { leases, leasesFailOpen: options.quotaFailOpen ?? false } : {}),
    logger: logger.child({ component: 'registry' }),
    idleTimeoutMs: options.idleTimeoutMs ?? 30 * 60_000,
    acquireTimeoutMs: options.acquireTimeoutMs ?? 10_000,
    defaultTimeoutMs: options.timeoutMs ?? 60_000,
    maxTimeoutMs: options.maxTimeoutMs ?? 3_600_000,
    maxCodeBytes,
    logChars: options.streamLogChars ?? 2 * MiB,
    observer: metrics,
  });
  registryRef = registry;

  const hygiene: HygieneOptions = {
    requestTimeoutMs: options.requestTimeoutMs ?? 30_000,
    headersTimeoutMs: options.headersTimeoutMs ?? 10_000,
    maxHeaderBytes: options.maxHeaderBytes ?? 16 * 1024,
    lingerBytes: options.lingerBytes ?? 64 * MiB,
  };
  const app = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    requestTimeout: hygiene.requestTimeoutMs,
    http: httpServerOptions(hygiene),
    clientErrorHandler: clientErrorHandler(hygiene, logger as FastifyBaseLogger),
    frameworkErrors: frameworkErrorHandler,
    // Our own onResponse log carries tenant and session id; fastify's would not.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit,
    requestIdHeader: 'x-request-id',
    genReqId: () => randomUUID(),
    // Strict validation: no coercion of "123" into 123 nor of 1 into "1", no silent stripping.
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, allErrors: false } },
    forceCloseConnections: 'idle',
  });
  // Whoever closes the app, close() below or app.close() itself, ends everything the server runs.
  // Before the listener closes: the registry's work (with no grace unless close() gave one first).
  // After the last request: the pool the server made, the leases, then the inspector (it shows the
  // sessions' ends).
  app.addHook('preClose', async () => {
    await registry.close(0);
  });
  app.addHook('onClose', async () => {
    if (ownsPool) await pool.shutdown();
    await leases?.close();
    await inspector?.close();
  });
  // Small messages must not wait for Nagle's algorithm. Node's http server sets noDelay by default
  // (since 18); set it explicitly anyway, on every accepted socket, WebSocket ones included.
  app.server.on('connection', (socket: Socket) => socket.setNoDelay(true));

  app.decorateRequest('tenant', null);
  app.decorateRequest('sessionId', null);

  app.setErrorHandler((error, request, reply) => {
    const mapped = mapError(error);
    if (mapped.status >= 500)
      request.log.error({ err: error, tenant: request.tenant?.name, sessionId: request.sessionId }, 'request failed');
    if (mapped.retryAfter !== undefined) void reply.header('retry-after', String(mapped.retryAfter));
    if (answerBeforeBody(request, reply, mapped, hygiene)) return reply;
    return reply.code(mapped.status).send(answerBody(error, mapped));
  });
  // Many clients send `content-type: application/json` with no body on bodiless routes: an empty
  // body is no body. Routes that need one still refuse it by their schema (400).
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    const text = body.toString();
    if (text === '') done(null, undefined);
    else void parseJson(request, text, done);
  });
  app.setNotFoundHandler((request, reply) => {
    return reply
      .code(404)
      .send(errorBody({ status: 404, code: 'not_found', message: `no route ${request.method} ${redactUrl(request.url)}` }));
  });

  app.addHook('onSend', async (request, reply) => {
    reply.header('x-request-id', request.id);
  });
  app.addHook('onResponse', async (request: FastifyRequest, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    metrics.request(request.method, route, reply.statusCode, reply.elapsedTime / 1000);
    request.log.info(
      {
        method: request.method,
        url: redactUrl(request.url),
        statusCode: reply.statusCode,
        responseTimeMs: Math.round(reply.elapsedTime * 10) / 10,
        tenant: request.tenant?.name,
        sessionId: request.sessionId ?? undefined,
      },
      'request completed',
    );
  });

  // Only a Jupyter kernel's channels select a subprotocol (ws would otherwise pick the client's first).
  await app.register(websocket, {
    options: { maxPayload: bodyLimit, handleProtocols: (offered, request) => selectSubprotocol(offered, request.url) },
  });

  let ready = false;
  const warnings = pool.sandboxed
    ? []
    : ["sessions are not sandboxed: tenant code runs as the server's user and can reach its files, processes and network"];
  systemRoutes(app, registry, metrics, () => ready, warnings);

  await app.register(
    // biome-ignore lint/nursery/noMisusedPromises: fastify awaits an async plugin
    async (v1) => {
      v1.addHook('onRequest', async (request) => {
        let token = Authenticator.bearer(request.headers.authorization);
        // Browsers cannot set headers on a WebSocket: the stream accepts ?token= as well.
        if (token === null && request.routeOptions.url?.endsWith('/stream')) {
          const query = request.query as Record<string, unknown> | undefined;
          if (typeof query?.token === 'string') token = query.token;
        }
        const tenant = auth.resolve(token);
        if (tenant === null) throw new HttpError(401, 'unauthorized', 'a valid bearer token is required');
        request.tenant = tenant;
      });
      sessionRoutes(v1, registry);
      executeRoute(v1, registry);
      poolRoute(v1, pool, registry);
      adminRoutes(v1, () => void drain());
      // biome-ignore lint/nursery/noMisusedPromises: fastify awaits an async plugin
      await v1.register(async (files) => fileRoutes(files, registry, bodyLimit));
      streamRoute(v1, registry, {
        maxBufferedBytes: options.streamBufferBytes ?? 8 * MiB,
        stuckMs: options.streamStuckMs ?? 60_000,
      });
    },
    { prefix: '/v1' },
  );
  kernelsRef = await jupyterRoutes(app, {
    registry,
    auth,
    identity,
    logger: logger.child({ component: 'jupyter' }),
    urlToken: options.jupyterUrlToken ?? false,
  });

  await app.ready();
  await removeLeftoverSessionFolders(logger);
  try {
    await pool.start();
  } catch (error) {
    // A server that cannot start leaves nothing behind: no Python process, no open handle (the hooks above).
    await app.close();
    throw error;
  }
  ready = true;

  let drained: Promise<void> | null = null;
  const drain = (): Promise<void> => {
    if (drained === null) {
      logger.info({ sessions: registry.size }, 'draining: no new sessions; exiting once the last one ends');
      drained = registry.drain();
      options.onDrain?.(drained);
    }
    return drained;
  };

  let closing: Promise<void> | null = null;
  const close = (closeOptions: { graceMs?: number } = {}): Promise<void> => {
    closing ??= (async () => {
      const graceMs = closeOptions.graceMs ?? options.shutdownGraceMs ?? 10_000;
      logger.info({ graceMs, executions: registry.executing }, 'shutting down');
      // The listener stays open through the grace period: a proxy's health checks still reach
      // /healthz, and running executions still return through it. New work gets 503 meanwhile.
      await registry.close(graceMs);
      // The app's preClose and onClose hooks end the rest.
      await app.close();
      logger.info('shut down');
    })();
    return closing;
  };

  const listen = async (listenOptions: { host?: string; port?: number } = {}): Promise<string> => {
    await app.listen({ host: listenOptions.host ?? '127.0.0.1', port: listenOptions.port ?? 8000 });
    const address = app.server.address();
    if (address === null || typeof address === 'string') return String(address);
    const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    return `http://${host}:${address.port}`;
  };

  return { app, identity, pool, registry, metrics, logger, generatedToken, inspector, listen, close, drain };
}

export interface StartedServer extends PyRepl3Server {
  url: string;
}

/** createServer() and listen(): for in-process use (tests, benchmarks). Port 0 picks a free port. */
export async function startServer(options: ServerOptions & { host?: string; port?: number } = {}): Promise<StartedServer> {
  const { host, port, ...serverOptions } = options;
  const server = await createServer(serverOptions);
  try {
    const url = await server.listen({ ...(host !== undefined ? { host } : {}), ...(port !== undefined ? { port } : {}) });
    return { ...server, url };
  } catch (error) {
    await server.close({ graceMs: 0 });
    throw error;
  }
}
