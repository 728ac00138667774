import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { autocannon, type LoadResult } from '../anchors/autocannon.js';
import { compare, figure } from '../compare.js';
import type { Comparison, Row } from '../model.js';
import { ROOT } from '../paths.js';
import { pyreplLogger } from '../pyrepl.js';
import { interleave, nowMs, percentile } from '../stats.js';
import type { Session, SessionPool, SessionPoolOptions } from '../../src/index.js';

/** What the suite needs of src/server/app.ts (built by another issue), typed here so that it may be missing. */
interface ServerModule {
  startServer(options: {
    host: string;
    port: number;
    poolOptions: SessionPoolOptions;
    tokens: Array<{ token: string; tenant: string }>;
    logger: typeof pyreplLogger;
  }): Promise<{ url: string; pool: SessionPool; close(options?: { graceMs?: number }): Promise<void> }>;
}

const TOKEN = 'bench-token-0123456789';
const BODY = JSON.stringify({ code: '1+1' });
const ONE_SHOT_CONNECTIONS = 4;

async function loadServer(): Promise<ServerModule | string> {
  if (!existsSync(join(ROOT, 'src', 'server', 'app.ts'))) return 'src/server/app.ts does not exist yet';
  const module = (await import(new URL('../../src/server/app.js', import.meta.url).href)) as Partial<ServerModule>;
  return typeof module.startServer === 'function' ? (module as ServerModule) : 'src/server/app.ts does not export startServer';
}

/** In-process anchor: `workers` loops calling `call` for `seconds`; requests/s and per-call ms. */
async function library(workers: number, seconds: number, call: () => Promise<unknown>): Promise<LoadResult> {
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

export const serviceRow: Row = {
  id: 7,
  key: 'service',
  title: 'The service: `POST /v1/execute` and execute in a held session, under autocannon (loopback)',
  async run({ quick, python, progress }) {
    const server = await loadServer();
    if (typeof server === 'string') return { comparisons: [], notes: [], unavailable: server };
    const started = await server.startServer({
      host: '127.0.0.1',
      port: 0,
      poolOptions: { minIdle: 2, maxSessions: ONE_SHOT_CONNECTIONS + 2, pythonPath: python, healthCheckIntervalMs: 0, logger: pyreplLogger },
      tokens: [{ token: TOKEN, tenant: 'bench' }],
      logger: pyreplLogger,
    });
    let held: Session | null = null;
    try {
      const headers = { authorization: `Bearer ${TOKEN}` };
      const created = await fetch(`${started.url}/v1/sessions`, { method: 'POST', headers });
      if (created.status !== 201) throw new Error(`POST /v1/sessions answered ${created.status}`);
      const { id } = (await created.json()) as { id: string };
      held = await started.pool.acquire();
      const heldSession = held;
      const seconds = quick ? 1 : 3;
      const results: Record<string, LoadResult[]> = {};
      const keep = (name: string, get: () => Promise<LoadResult>) => async () => {
        const result = await get();
        (results[name] ??= []).push(result);
        return result.requestsPerSecond;
      };
      progress(`autocannon ${seconds} s per sample`);
      await interleave(
        {
          httpHeld: keep('httpHeld', () => autocannon({ url: `${started.url}/v1/sessions/${id}/execute`, connections: 1, seconds, body: BODY, headers })),
          libHeld: keep('libHeld', () => library(1, seconds, () => heldSession.execute('1+1'))),
          httpOnce: keep('httpOnce', () => autocannon({ url: `${started.url}/v1/execute`, connections: ONE_SHOT_CONNECTIONS, seconds, body: BODY, headers })),
          libOnce: keep('libOnce', () =>
            library(ONE_SHOT_CONNECTIONS, seconds, async () => {
              const session = await started.pool.acquire();
              await session.execute('1+1');
              void session.destroy();
            }),
          ),
        },
        { rounds: quick ? 1 : 3, warmup: quick ? 0 : 1 },
      );
      const fig = (name: string, label: string, pick: (r: LoadResult) => number) => figure(label, (results[name] ?? []).map(pick), python);
      const rps = (r: LoadResult) => r.requestsPerSecond;
      const p99 = (r: LoadResult) => r.p99Ms;
      // The warm-up round is in `results` too: interleave only drops it from its own samples.
      if (!quick) for (const list of Object.values(results)) list.splice(0, 1);
      const comparisons: Comparison[] = [
        compare('held session, `1+1`, 1 connection: requests/s', 'req/s', fig('httpHeld', 'PyREPL3 service', rps), fig('libHeld', 'library: session.execute in process', rps), { lowerIsBetter: false }),
        compare('held session, `1+1`, 1 connection: p99 latency', 'ms', fig('httpHeld', 'PyREPL3 service', p99), fig('libHeld', 'library: session.execute in process', p99)),
        compare(`one-shot \`POST /v1/execute\`, ${ONE_SHOT_CONNECTIONS} connections: requests/s`, 'req/s', fig('httpOnce', 'PyREPL3 service', rps), fig('libOnce', 'library: acquire, execute, destroy (not awaited, as the service does)', rps), { lowerIsBetter: false }),
        compare(`one-shot \`POST /v1/execute\`, ${ONE_SHOT_CONNECTIONS} connections: p99 latency`, 'ms', fig('httpOnce', 'PyREPL3 service', p99), fig('libOnce', 'library: acquire, execute, destroy (not awaited, as the service does)', p99)),
      ];
      const bad = Object.entries(results).flatMap(([name, list]) => list.filter((r) => r.non2xx + r.errors > 0).map((r) => `${name}: ${r.non2xx} non-2xx, ${r.errors} errors`));
      return {
        comparisons,
        notes: [
          'autocannon runs as a child process against the service on 127.0.0.1 (port chosen by the OS), fastify with bearer auth, JSON-schema validation and metrics; the library anchor makes the same calls in process for the same time.',
          `\`POST /v1/execute\` destroys its session afterwards, so it is bound by session start; the pool has maxSessions ${ONE_SHOT_CONNECTIONS + 2}.`,
          ...(bad.length ? [`Failed requests: ${bad.join('; ')}`] : ['Every request answered 2xx.']),
        ],
      };
    } finally {
      await held?.release();
      await started.close({ graceMs: 0 });
    }
  },
};
