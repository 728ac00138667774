export { createServer, startServer, type PyRepl3Server, type ServerOptions, type StartedServer } from './app.js';
export { Authenticator, loadTokensFile, randomToken, validateTokens, type Tenant, type TenantToken } from './auth.js';
export { HttpError, mapError, type ErrorBody, type MappedError } from './errors.js';
export { startInspector, type InspectorOptions, type InspectorRelay } from './inspector.js';
export { createMetrics, type ServerMetrics } from './metrics.js';
export { openApiDocument } from './openapi.js';
export {
  DrainingError,
  NotFoundError,
  QuotaExceededError,
  QuotaStoreUnavailableError,
  RegistryRefusal,
  SessionElsewhereError,
  SessionLostError,
  ShuttingDownError,
  type Quota,
} from './refusals.js';
export { SessionRegistry, type NamedSession, type SessionOwner, type SessionView } from './registry.js';
