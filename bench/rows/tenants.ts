import { autocannon, type LoadResult } from '../anchors/autocannon.js';
import { compare, figure, ratioAtMost } from '../compare.js';
import { loop, poster } from '../load.js';
import type { Comparison, Row } from '../model.js';
import { pyreplLogger } from '../pyrepl.js';
import { interleave } from '../stats.js';
import { startServer } from '../../src/server/index.js';

const FLOOD = 'flood-token-0123456789';
const HELD = 'held-token-0123456789';
const ONCE = 'once-token-0123456789';
// As many as its quota of executions at once: a flood of work that fills its share of the pool.
// More connections would mostly measure how fast the server answers 429 to a client that ignores Retry-After.
const FLOOD_CONNECTIONS = 4;
const CODE = { code: '1+1' };

interface Sample {
  held: LoadResult;
  once: LoadResult;
  flood: LoadResult | null;
}

export const tenantsRow: Row = {
  id: 11,
  key: 'tenants',
  title: "Three tenants, one flooding: the others' latency alone and beside the flood (service, loopback)",
  async run({ quick, python, progress }) {
    // Default quotas (4 sessions, 4 executions at once per tenant) on a pool of 6.
    const server = await startServer({
      host: '127.0.0.1',
      port: 0,
      poolOptions: { minIdle: 2, maxSessions: 6, spawn: 'fork', pythonPath: python, healthCheckIntervalMs: 0, logger: pyreplLogger },
      tokens: [
        { token: FLOOD, tenant: 'flood' },
        { token: HELD, tenant: 'held' },
        { token: ONCE, tenant: 'once' },
      ],
      logger: pyreplLogger,
    });
    try {
      const created = await fetch(`${server.url}/v1/sessions`, { method: 'POST', headers: { authorization: `Bearer ${HELD}` } });
      if (created.status !== 201) throw new Error(`POST /v1/sessions answered ${created.status}`);
      const { id } = (await created.json()) as { id: string };
      const heldCall = poster(`${server.url}/v1/sessions/${id}/execute`, HELD, CODE);
      const onceCall = poster(`${server.url}/v1/execute`, ONCE, CODE);
      const seconds = quick ? 1 : 3;
      const samples: Record<'alone' | 'flooded', Sample[]> = { alone: [], flooded: [] };
      // The two calm tenants, one connection each: one executes in its named session, one runs one-shots.
      const calm = () => Promise.all([loop(1, seconds, heldCall), loop(1, seconds, onceCall)]);
      progress(`${seconds} s per sample; the flood: autocannon, ${FLOOD_CONNECTIONS} connections of one-shots`);
      await interleave(
        {
          alone: async () => {
            const [held, once] = await calm();
            samples.alone.push({ held, once, flood: null });
            return held.p99Ms;
          },
          flooded: async () => {
            const flooding = autocannon({
              url: `${server.url}/v1/execute`,
              connections: FLOOD_CONNECTIONS,
              seconds: seconds + 1,
              body: JSON.stringify(CODE),
              headers: { authorization: `Bearer ${FLOOD}` },
            });
            const [held, once] = await calm();
            samples.flooded.push({ held, once, flood: await flooding });
            return held.p99Ms;
          },
        },
        { rounds: quick ? 1 : 5, warmup: quick ? 0 : 1 },
      );
      if (!quick) for (const list of Object.values(samples)) list.splice(0, 1);
      const fig = (which: 'alone' | 'flooded', pick: (s: Sample) => number) =>
        figure(which === 'alone' ? 'alone' : 'beside the flood', samples[which].map(pick), python);
      const goal = ratioAtMost(2, 'p99 within 2x its figure alone');
      const comparisons: Comparison[] = [
        compare(
          'tenant executing in its named session: p99 latency',
          'ms',
          fig('flooded', (s) => s.held.p99Ms),
          fig('alone', (s) => s.held.p99Ms),
          { goal },
        ),
        compare(
          'tenant executing in its named session: median latency',
          'ms',
          fig('flooded', (s) => s.held.medianMs),
          fig('alone', (s) => s.held.medianMs),
        ),
        compare(
          'tenant running one-shots: p99 latency',
          'ms',
          fig('flooded', (s) => s.once.p99Ms),
          fig('alone', (s) => s.once.p99Ms),
          { goal },
        ),
        compare(
          'tenant running one-shots: median latency',
          'ms',
          fig('flooded', (s) => s.once.medianMs),
          fig('alone', (s) => s.once.medianMs),
        ),
      ];
      const floods = samples.flooded.map((s) => s.flood!);
      const served = floods.map((f) => f.requests - f.non2xx);
      return {
        comparisons,
        notes: [
          `The flooding tenant sends one-shots \`1+1\` on ${FLOOD_CONNECTIONS} connections (autocannon, a child process) and is held to its default quota of 4 executions at once: per sample it got ${served.join(', ')} answers 200 and ${floods.map((f) => f.non2xx).join(', ')} answers 429.`,
          "The calm tenants run in the server's process (fetch, one call at a time each); the pool has maxSessions 6, spawn fork; waiting for a session is round robin across tenants.",
        ],
      };
    } finally {
      await server.close({ graceMs: 0 });
    }
  },
};
