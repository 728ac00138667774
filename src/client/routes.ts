/**
 * Every route the client uses, as the OpenAPI document names it, with the status that means
 * success. The client builds its requests from this table only, so a test can hold it against
 * GET /openapi.json.
 */
export const ROUTES = {
  createSession: { method: 'POST', path: '/v1/sessions', ok: 201 },
  getSession: { method: 'GET', path: '/v1/sessions/{id}', ok: 200 },
  deleteSession: { method: 'DELETE', path: '/v1/sessions/{id}', ok: 204 },
  interrupt: { method: 'POST', path: '/v1/sessions/{id}/interrupt', ok: 202 },
  oneShot: { method: 'POST', path: '/v1/execute', ok: 200 },
  writeFile: { method: 'PUT', path: '/v1/sessions/{id}/files/{path}', ok: 204 },
  readFile: { method: 'GET', path: '/v1/sessions/{id}/files/{path}', ok: 200 },
  stream: { method: 'GET', path: '/v1/sessions/{id}/stream', ok: 101 },
} as const;

export type RouteName = keyof typeof ROUTES;

/**
 * The route's path with its parameters filled in, each encoded whole: a file path's slashes too
 * (the server decodes them), so that no URL parser resolves a '..' away before the server judges it.
 */
export function pathOf(name: RouteName, params: Record<string, string> = {}): string {
  return ROUTES[name].path.replace(/\{(\w+)\}/g, (_, key: string) => encodeURIComponent(params[key] ?? ''));
}
