import WebSocket from 'ws';
import { autocannon, type LoadResult } from '../anchors/autocannon.js';
import { compare, figure } from '../compare.js';
import { loop } from '../load.js';
import type { Comparison, Row } from '../model.js';
import { pyreplLogger } from '../pyrepl.js';
import { appendTo, interleave } from '../stats.js';
import { Client, type WebSocketConstructor } from '../../src/client/index.js';
import type { Session, SessionPoolOptions } from '../../src/index.js';
import { startServer, type StartedServer } from '../../src/server/index.js';

const TOKEN = 'bench-token-0123456789';
const BODY = JSON.stringify({ code: '1+1' });
const ONE_SHOT_CONNECTIONS = 4;
const headers = { authorization: `Bearer ${TOKEN}` };

function serve(python: string, poolOptions: SessionPoolOptions): Promise<StartedServer> {
  return startServer({
    host: '127.0.0.1',
    port: 0,
    poolOptions: {
      minIdle: 2,
      maxSessions: ONE_SHOT_CONNECTIONS + 2,
      pythonPath: python,
      healthCheckIntervalMs: 0,
      logger: pyreplLogger,
      ...poolOptions,
    },
    tokens: [{ token: TOKEN, tenant: 'bench', maxConcurrent: ONE_SHOT_CONNECTIONS }],
    logger: pyreplLogger,
  });
}

export const serviceRow: Row = {
  id: 7,
  key: 'service',
  title:
    'The service: `POST /v1/execute` (exec and fork), and `1+1` in a held session over HTTP and WebSocket, beside the library in process (loopback)',
  async run({ quick, python, progress }) {
    const exec = await serve(python, {});
    const fork = await serve(python, { spawn: 'fork' });
    let held: Session | null = null;
    try {
      const created = await fetch(`${exec.url}/v1/sessions`, { method: 'POST', headers });
      if (created.status !== 201) throw new Error(`POST /v1/sessions answered ${created.status}`);
      const { id } = (await created.json()) as { id: string };
      const client = new Client({ url: exec.url, token: TOKEN, WebSocket: WebSocket as unknown as WebSocketConstructor });
      const wsSession = await client.createSession();
      held = await exec.pool.acquire();
      const heldSession = held;
      const seconds = quick ? 1 : 3;
      const results: Record<string, LoadResult[]> = {};
      const keep = (name: string, get: () => Promise<LoadResult>) => async () => {
        const result = await get();
        appendTo(results, name, result);
        return result.requestsPerSecond;
      };
      const oneShots = (url: string) => () =>
        autocannon({ url: `${url}/v1/execute`, connections: ONE_SHOT_CONNECTIONS, seconds, body: BODY, headers });
      progress(`autocannon ${seconds} s per sample`);
      await interleave(
        {
          httpHeld: keep('httpHeld', () =>
            autocannon({ url: `${exec.url}/v1/sessions/${id}/execute`, connections: 1, seconds, body: BODY, headers }),
          ),
          wsHeld: keep('wsHeld', () => loop(1, seconds, () => wsSession.execute('1+1'))),
          libHeld: keep('libHeld', () => loop(1, seconds, () => heldSession.execute('1+1'))),
          httpOnce: keep('httpOnce', oneShots(exec.url)),
          httpOnceFork: keep('httpOnceFork', oneShots(fork.url)),
          libOnce: keep('libOnce', () =>
            loop(ONE_SHOT_CONNECTIONS, seconds, async () => {
              const session = await exec.pool.acquire();
              await session.execute('1+1');
              void session.destroy();
            }),
          ),
        },
        { rounds: quick ? 1 : 3, warmup: quick ? 0 : 1 },
      );
      const fig = (name: string, label: string, pick: (r: LoadResult) => number) => figure(label, (results[name] ?? []).map(pick), python);
      const rps = (r: LoadResult) => r.requestsPerSecond;
      const p50 = (r: LoadResult) => r.medianMs;
      const p99 = (r: LoadResult) => r.p99Ms;
      // The warm-up round is in `results` too: interleave only drops it from its own samples.
      if (!quick) for (const list of Object.values(results)) list.splice(0, 1);
      const lib = 'library: session.execute in process';
      const libOnce = 'library: acquire, execute, destroy (not awaited, as the service does)';
      const comparisons: Comparison[] = [
        compare(
          'held session, `1+1`, 1 connection, HTTP: requests/s',
          'req/s',
          fig('httpHeld', 'PyREPL3 service, HTTP', rps),
          fig('libHeld', lib, rps),
          { lowerIsBetter: false },
        ),
        compare(
          'held session, `1+1`, 1 connection, HTTP: p99 latency',
          'ms',
          fig('httpHeld', 'PyREPL3 service, HTTP', p99),
          fig('libHeld', lib, p99),
        ),
        compare(
          'held session, `1+1`, WebSocket (pyrepl3/client): requests/s',
          'req/s',
          fig('wsHeld', 'PyREPL3 service, WebSocket', rps),
          fig('libHeld', lib, rps),
          { lowerIsBetter: false },
        ),
        compare(
          'held session, `1+1`, WebSocket (pyrepl3/client): median latency',
          'ms',
          fig('wsHeld', 'PyREPL3 service, WebSocket', p50),
          fig('libHeld', lib, p50),
        ),
        compare(
          `one-shot \`POST /v1/execute\`, exec, ${ONE_SHOT_CONNECTIONS} connections: requests/s`,
          'req/s',
          fig('httpOnce', 'PyREPL3 service, spawn exec', rps),
          fig('libOnce', libOnce, rps),
          { lowerIsBetter: false },
        ),
        compare(
          `one-shot \`POST /v1/execute\`, exec, ${ONE_SHOT_CONNECTIONS} connections: p99 latency`,
          'ms',
          fig('httpOnce', 'PyREPL3 service, spawn exec', p99),
          fig('libOnce', libOnce, p99),
        ),
        compare(
          `one-shot \`POST /v1/execute\`, ${ONE_SHOT_CONNECTIONS} connections: requests/s, fork beside exec`,
          'req/s',
          fig('httpOnceFork', 'PyREPL3 service, spawn fork', rps),
          fig('httpOnce', 'PyREPL3 service, spawn exec', rps),
          {
            lowerIsBetter: false,
            goal: { text: '≥ 300 req/s with --spawn fork', test: (subject) => subject.median >= 300 },
          },
        ),
        compare(
          `one-shot \`POST /v1/execute\`, fork, ${ONE_SHOT_CONNECTIONS} connections: p99 latency`,
          'ms',
          fig('httpOnceFork', 'PyREPL3 service, spawn fork', p99),
          fig('httpOnce', 'PyREPL3 service, spawn exec', p99),
        ),
      ];
      const bad = Object.entries(results).flatMap(([name, list]) =>
        list.filter((r) => r.non2xx + r.errors > 0).map((r) => `${name}: ${r.non2xx} non-2xx, ${r.errors} errors`),
      );
      await wsSession.close();
      return {
        comparisons,
        notes: [
          "autocannon runs as a child process against the service on 127.0.0.1 (port chosen by the OS), fastify with bearer auth, JSON-schema validation and metrics; the library anchor makes the same calls in process for the same time. The WebSocket figure is the typed client (pyrepl3/client over the ws package) in the server's own process, one execution at a time.",
          `\`POST /v1/execute\` destroys its session afterwards, so it is bound by session start: a new interpreter (exec) or a fork of the warmed template (fork); the pool has maxSessions ${ONE_SHOT_CONNECTIONS + 2}, the tenant maxConcurrent ${ONE_SHOT_CONNECTIONS}.`,
          ...(bad.length ? [`Failed requests: ${bad.join('; ')}`] : ['Every request answered 2xx.']),
        ],
      };
    } finally {
      await held?.release();
      await Promise.all([exec.close({ graceMs: 0 }), fork.close({ graceMs: 0 })]);
    }
  },
};
