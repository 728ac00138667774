/**
 * What `import … from 'pyrepl3/server'` runs (its types are those of index.ts). The service needs
 * optional peer dependencies of pyrepl3 (fastify, @fastify/websocket, prom-client): without them
 * this throws one MissingDependencyError that names every missing package and the command that
 * installs them, instead of the loader's error about the first one it meets. Its exports are
 * index.ts's values, by name (test/package.test.ts checks that no name is missing).
 */
import { requirePeers } from '../peers.js';

await requirePeers('pyrepl3/server', ['server']);
const server = await import('./index.js');

export const {
  createServer,
  startServer,
  Authenticator,
  loadTokensFile,
  randomToken,
  validateTokens,
  HttpError,
  mapError,
  startInspector,
  createMetrics,
  openApiDocument,
  DrainingError,
  NotFoundError,
  QuotaExceededError,
  QuotaStoreUnavailableError,
  RegistryRefusal,
  SessionElsewhereError,
  SessionLostError,
  ShuttingDownError,
  SessionRegistry,
} = server;
