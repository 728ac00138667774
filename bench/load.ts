import type { LoadResult } from './anchors/autocannon.js';
import { nowMs, percentile } from './stats.js';

/** In-process load: `workers` loops calling `call` for `seconds`; requests/s and per-call ms. */
export async function loop(workers: number, seconds: number, call: () => Promise<unknown>): Promise<LoadResult> {
  const latencies: number[] = [];
  const t0 = nowMs();
  const end = t0 + seconds * 1000;
  await Promise.all(
    Array.from({ length: workers }, async () => {
      while (nowMs() < end) {
        const start = nowMs();
        await call();
        latencies.push(nowMs() - start);
      }
    }),
  );
  return {
    requestsPerSecond: latencies.length / ((nowMs() - t0) / 1000),
    p99Ms: percentile(latencies, 0.99),
    medianMs: percentile(latencies, 0.5),
    requests: latencies.length,
    non2xx: 0,
    errors: 0,
  };
}

/** A POST with a JSON body and a bearer token that must answer 200; its latency is what loop() measures. */
export function poster(url: string, token: string, body: unknown): () => Promise<void> {
  const text = JSON.stringify(body);
  const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
  return async () => {
    const response = await fetch(url, { method: 'POST', headers, body: text });
    await response.arrayBuffer();
    if (response.status !== 200) throw new Error(`${url} answered ${response.status}`);
  };
}
