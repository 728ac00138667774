/** Order statistics and the interleaving every comparison in the suite goes through. */

export interface Summary {
  n: number;
  median: number;
  p99: number;
  min: number;
  max: number;
}

/** Nearest-rank percentile of unsorted samples, q in [0, 1]. */
/** Appends to the list kept under `key`, making it on first use. */
export function appendTo<K extends PropertyKey, T>(lists: Record<K, T[]>, key: K, ...items: T[]): void {
  const list = lists[key] ?? [];
  list.push(...items);
  lists[key] = list;
}

export function percentile(samples: readonly number[], q: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank] ?? Number.NaN;
}

export function median(samples: readonly number[]): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? (sorted[mid] ?? Number.NaN) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

export function summarize(samples: readonly number[]): Summary {
  return {
    n: samples.length,
    median: median(samples),
    p99: percentile(samples, 0.99),
    min: samples.length ? Math.min(...samples) : Number.NaN,
    max: samples.length ? Math.max(...samples) : Number.NaN,
  };
}

/** A monotonic clock in milliseconds with sub-microsecond resolution. */
export function nowMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

/** µs per call of `call`, made `count` times in a row, one sample per call. */
export async function timed(count: number, call: () => Promise<unknown>): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < count; i++) {
    const t0 = nowMs();
    await call();
    samples.push((nowMs() - t0) * 1000);
  }
  return samples;
}

/** One measurement of a contestant: a sample (or several, e.g. per-op latencies) per call. */
export type Trial = () => Promise<number | number[]>;

/**
 * Runs the contestants in turn, A, B, C, A, B, C ..., so that a noisy neighbour hits all of them
 * alike. The first `warmup` rounds are discarded. Returns each contestant's samples by name.
 */
export async function interleave(
  contestants: Record<string, Trial>,
  options: { rounds: number; warmup: number; onRound?: (round: number) => void },
): Promise<Record<string, number[]>> {
  const names = Object.keys(contestants);
  const samples: Record<string, number[]> = Object.fromEntries(names.map((name) => [name, []]));
  for (let round = 0; round < options.warmup + options.rounds; round++) {
    for (const name of names) {
      const trial = contestants[name];
      if (trial === undefined) continue;
      const result = await trial();
      if (round < options.warmup) continue;
      samples[name]?.push(...(Array.isArray(result) ? result : [result]));
    }
    options.onRound?.(round);
  }
  return samples;
}

export function ratio(subject: number, anchor: number): number {
  return anchor === 0 || !Number.isFinite(anchor) || !Number.isFinite(subject) ? Number.NaN : subject / anchor;
}
