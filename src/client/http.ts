import { ApiError } from './errors.js';
import { pathOf, ROUTES, type RouteName } from './routes.js';

export interface CallOptions {
  params?: Record<string, string>;
  json?: unknown;
  bytes?: Uint8Array | string;
}

/** Requests to the service with the global fetch (Node 20, browsers): JSON in, JSON or bytes out, ApiError on failure. */
export class HttpTransport {
  constructor(
    readonly baseUrl: string,
    private readonly token: string,
    private readonly fetchImpl: typeof fetch,
  ) {}

  async json<T>(name: RouteName, options: CallOptions = {}): Promise<T> {
    const response = await this.call(name, options);
    const text = await response.text();
    return (text === '' ? undefined : JSON.parse(text)) as T;
  }

  async bytes(name: RouteName, options: CallOptions = {}): Promise<Uint8Array> {
    return new Uint8Array(await (await this.call(name, options)).arrayBuffer());
  }

  async call(name: RouteName, options: CallOptions): Promise<Response> {
    const route = ROUTES[name];
    const headers: Record<string, string> = { authorization: `Bearer ${this.token}` };
    let body: string | Uint8Array | undefined;
    if (options.json !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(options.json);
    } else if (options.bytes !== undefined) {
      headers['content-type'] = 'application/octet-stream';
      body = options.bytes;
    }
    let response: Response;
    try {
      response = await this.fetchImpl(this.baseUrl + pathOf(name, options.params), {
        method: route.method,
        headers,
        ...(body !== undefined ? { body } : {}),
      });
    } catch (error) {
      throw new ApiError('network', `could not reach ${this.baseUrl}: ${String((error as { cause?: unknown }).cause ?? error)}`, 0);
    }
    if (response.status !== route.ok) throw await errorOf(response);
    return response;
  }
}

async function errorOf(response: Response): Promise<ApiError> {
  const retryAfter = response.headers.get('retry-after');
  const text = await response.text();
  let error: { code?: unknown; message?: unknown } = {};
  try {
    error = (JSON.parse(text) as { error?: typeof error }).error ?? {};
  } catch {
    // Not the service's shape (a proxy's page): keep the status.
  }
  return new ApiError(
    typeof error.code === 'string' ? error.code : 'http_error',
    typeof error.message === 'string' ? error.message : `HTTP ${response.status}`,
    response.status,
    retryAfter !== null && retryAfter !== '' ? Number(retryAfter) : null,
  );
}
