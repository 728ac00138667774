import { agentReply, startAgentCheck, type AgentCheck } from '../../src/server/agent-check.js';
import { startServer, type StartedServer } from '../../src/server/index.js';
import { HaproxyProcess } from '../anchors/haproxy.js';
import { compare, figure, ratioAtLeast, medianAtMost } from '../compare.js';
import { loop, poster } from '../load.js';
import type { Row } from '../model.js';
import { pyreplLogger } from '../pyrepl.js';
import { interleave, nowMs, timed } from '../stats.js';

const TOKEN = 'bench-cluster-token-0123';
const SLEEP = 'import time\ntime.sleep(0.1)';
const CLIENTS = 12;

interface Node {
  id: string;
  server: StartedServer;
  agent: AgentCheck;
  port: number;
  agentPort: number;
}

async function node(id: string, python: string): Promise<Node> {
  const server = await startServer({
    host: '127.0.0.1',
    port: 0,
    nodeId: id,
    logger: pyreplLogger,
    tokens: [{ token: TOKEN, tenant: 'bench', maxSessions: 64, maxConcurrent: 64 }],
    poolOptions: { minIdle: 2, maxSessions: 4, spawn: 'fork', pythonPath: python, healthCheckIntervalMs: 0, logger: pyreplLogger },
  });
  const agent = await startAgentCheck('127.0.0.1', 0, () => agentReply(server.pool, server.registry));
  return { id, server, agent, port: Number(new URL(server.url).port), agentPort: agent.port };
}

/** One-shots of the sleep from CLIENTS loops for `seconds`: answers per second, and how many were refused. */
async function answered(url: string, seconds: number): Promise<{ perSecond: number; refused: number }> {
  let ok = 0;
  let refused = 0;
  const headers = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };
  const body = JSON.stringify({ code: SLEEP });
  const t0 = nowMs();
  await loop(CLIENTS, seconds, async () => {
    const response = await fetch(url, { method: 'POST', headers, body });
    await response.arrayBuffer();
    if (response.status === 200) ok++;
    else refused++;
  });
  return { perSecond: ok / ((nowMs() - t0) / 1000), refused };
}

/** Issue 14: what the proxy costs a request, and what three nodes give over one. */
export const clusterRow: Row = {
  id: 12,
  key: 'cluster',
  title: 'Past one machine: three nodes behind HAProxy (docs/deploy/haproxy.cfg), beside one node alone',
  async run({ quick, python, progress }) {
    const nodes = await Promise.all(['n1', 'n2', 'n3'].map((id) => node(id, python)));
    const proxy = await HaproxyProcess.start(nodes);
    try {
      const deadline = nowMs() + 15_000;
      while ((await proxy.upServers()) < 6) if (nowMs() > deadline) throw new Error(`HAProxy never saw the nodes up\n${proxy.log}`);
      const headers = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };
      const created = await fetch(`${proxy.url}/v1/sessions`, { method: 'POST', headers: { authorization: headers.authorization } });
      const { id } = (await created.json()) as { id: string };
      const home = nodes.find((n) => id.startsWith(`${n.id}.`))!;
      const execute = (base: string) => poster(`${base}/v1/sessions/${id}/execute`, TOKEN, { code: '1+1' });
      progress('1+1 on a held session, straight to its node and through the proxy');
      const roundTrips = await interleave(
        { direct: () => timed(quick ? 20 : 200, execute(home.server.url)), proxied: () => timed(quick ? 20 : 200, execute(proxy.url)) },
        { rounds: quick ? 2 : 10, warmup: 1 },
      );
      progress(
        `one-shots of a 0.1 s sleep, ${CLIENTS} clients (fewer than the three nodes hold: when all are full the proxy answers 503): one node alone, then three through the proxy`,
      );
      const seconds = quick ? 1 : 5;
      const one = await answered(`${nodes[0]!.server.url}/v1/execute`, seconds);
      const three = await answered(`${proxy.url}/v1/execute`, seconds);
      const direct = figure(
        'straight to the node',
        (roundTrips.direct ?? []).map((us) => us / 1000),
        python,
      );
      const proxied = figure(
        'through HAProxy',
        (roundTrips.proxied ?? []).map((us) => us / 1000),
        python,
      );
      const added = figure('added by the proxy', [proxied.summary.median - direct.summary.median], python);
      return {
        comparisons: [
          compare('`1+1` over HTTP on a held session', 'ms', proxied, direct),
          compare('median added by the proxy hop', 'ms', added, null, { goal: medianAtMost(0.3, '0.3 ms or less') }),
          compare(
            'one-shots of `time.sleep(0.1)`, requests/s',
            'req/s',
            figure('3 nodes through HAProxy', [three.perSecond], python),
            figure('1 node alone', [one.perSecond], python),
            { lowerIsBetter: false, goal: ratioAtLeast(2.4, '2.4x one node or more') },
          ),
        ],
        notes: [
          'Nodes: three in-process `startServer` servers (spawn fork, maxSessions 4 each, agent checks on), HAProxy 2.6 with the shipped docs/deploy/haproxy.cfg, all on loopback on the same 2 cores.',
          `Round trips: single POST .../execute calls of \`1+1\`, interleaved straight and proxied. Throughput: ${CLIENTS} concurrent clients for ${seconds} s each way, counting 200 answers; refused (503: every node full for a moment, as the agents last said): ${one.refused} alone, ${three.refused} through the proxy.`,
        ],
      };
    } finally {
      await proxy.stop();
      for (const n of nodes) {
        await n.agent.close();
        await n.server.close({ graceMs: 0 });
      }
    }
  },
};
