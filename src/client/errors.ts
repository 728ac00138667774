/** An error the service answered with (`{ error: { code, message } }`), or the client's own when it could not reach it. */
export class ApiError extends Error {
  constructor(
    /** The service's error code (`unauthorized`, `quota_exceeded`, `session_busy`, …); `network` or `disconnected` for the client's own. */
    readonly code: string,
    message: string,
    /** The HTTP status; 0 when there was none (a network failure, a stream that could not be resumed). */
    readonly status: number,
    /** Seconds to wait before retrying, from Retry-After (429). */
    readonly retryAfter: number | null = null,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}
