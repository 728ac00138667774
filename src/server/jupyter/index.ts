import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { Authenticator } from '../auth.js';
import type { NodeIdentity } from '../node-identity.js';
import type { SessionRegistry } from '../registry.js';
import { channelsRoute } from './channels.js';
import { JupyterError, jupyterErrorHandler } from './errors.js';
import { kernelRoutes } from './kernels.js';
import { kernelspecRoutes } from './kernelspecs.js';
import { KernelManager } from './manager.js';
import { NotebookSessions, sessionRoutes } from './sessions.js';

export interface JupyterOptions {
  registry: SessionRegistry;
  auth: Authenticator;
  logger: Logger;
  /** Kernel and session ids name this node and its start, so a proxy routes them by the id alone. */
  identity: NodeIdentity;
  /**
   * Also mount the API under /t/<token>/api, for clients that cannot send a credential (jupyter_server's
   * GatewayKernelClient opens its WebSocket with none). Off by default: the token is then in URLs.
   */
  urlToken: boolean;
}

/** The prefix of the token-in-path mount; logs redact what follows it. */
export const URL_TOKEN_PREFIX = '/t/';

/**
 * The Jupyter Server kernels API (the one Jupyter Kernel Gateway serves) over the registry:
 * kernelspecs, kernels, sessions and the kernel WebSocket, under /api.
 */
export async function jupyterRoutes(app: FastifyInstance, options: JupyterOptions): Promise<KernelManager> {
  const manager = new KernelManager(options.registry, options.logger, options.identity);
  const sessions = new NotebookSessions(manager, options.identity);
  const mount = (tokenOf: (request: FastifyRequest) => string | null) => async (api: FastifyInstance) => {
    api.setErrorHandler(jupyterErrorHandler);
    acceptAnyJsonBody(api);
    api.addHook('onRequest', async (request) => {
      const tenant = options.auth.resolve(tokenOf(request));
      if (tenant === null) throw new JupyterError(403, 'Forbidden');
      request.tenant = tenant;
    });
    kernelspecRoutes(api);
    kernelRoutes(api, manager);
    sessionRoutes(api, sessions);
    channelsRoute(api, manager);
  };
  await app.register(mount(headerOrQueryToken), { prefix: '/api' });
  if (options.urlToken) await app.register(mount(pathToken), { prefix: `${URL_TOKEN_PREFIX}:pathToken/api` });
  return manager;
}

/**
 * Jupyter clients send JSON whatever their Content-Type says (@jupyterlab/services posts it as
 * text/plain) and DELETE with a JSON Content-Type and no body: every body is read as JSON, an
 * empty one as none.
 */
function acceptAnyJsonBody(api: FastifyInstance): void {
  api.removeAllContentTypeParsers();
  api.addContentTypeParser('*', { parseAs: 'string' }, (_request, body, done) => {
    const text = String(body);
    if (text.trim() === '') {
      done(null, undefined);
      return;
    }
    try {
      done(null, JSON.parse(text) as unknown);
    } catch {
      done(new JupyterError(400, 'the request body must be JSON'), undefined);
    }
  });
}

/** `Authorization: token T` (Jupyter's scheme) or `Bearer T`, else `?token=T`. */
function headerOrQueryToken(request: FastifyRequest): string | null {
  const match = /^(?:token|bearer)\s+(\S+)\s*$/i.exec(request.headers.authorization ?? '');
  if (match !== null) return match[1]!;
  const query = request.query as Record<string, unknown> | undefined;
  return typeof query?.token === 'string' ? query.token : null;
}

function pathToken(request: FastifyRequest): string | null {
  const params = request.params as Record<string, unknown> | undefined;
  return typeof params?.pathToken === 'string' ? params.pathToken : null;
}
