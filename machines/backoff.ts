export interface Backoff {
  initialMs: number;
  maxMs: number;
}

/** Exponential backoff: initialMs after the first failure, doubling, capped at maxMs. */
export function backoffDelay(failures: number, backoff: Backoff): number {
  return Math.min(backoff.initialMs * 2 ** Math.max(0, failures - 1), backoff.maxMs);
}
