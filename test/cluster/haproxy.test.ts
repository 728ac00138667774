import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { Client, type WebSocketConstructor } from '../../src/client/index.js';
import { processesMentioning } from '../helpers/os.js';
import { serveCli, useBuiltCli } from '../server/cli.js';
import { call, StreamClient, until, wsUrl } from '../server/helpers.js';
import { ADMIN, TENANT, Topology } from './topology.js';

const serve = serveCli(useBuiltCli());
let cluster: Topology;

beforeAll(async () => {
  cluster = await Topology.start(serve);
}, 60_000);

afterAll(async () => {
  await cluster.stop();
});

/** Sessions a test made, deleted after it whatever happened, so the next test starts on idle nodes. */
const made: string[] = [];

afterEach(async () => {
  for (const id of made.splice(0)) await call(cluster.url, 'DELETE', `/v1/sessions/${id}`, TENANT);
});

async function create(): Promise<string> {
  const reply = await call(cluster.url, 'POST', '/v1/sessions', TENANT);
  expect([reply.status, reply.body]).toEqual([201, expect.anything()]);
  made.push(reply.body.id as string);
  return reply.body.id as string;
}

describe('three nodes behind HAProxy (docs/deploy/haproxy.cfg)', () => {
  it('places 6 new sessions 2/2/2 on idle nodes, and every request for a session reaches its node', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) ids.push(await create());
    const perNode = cluster.nodes.map((node) => ids.filter((id) => id.startsWith(`${node.id}.`)).length);
    expect(perNode).toEqual([2, 2, 2]);
    for (const id of ids) await call(cluster.url, 'POST', `/v1/sessions/${id}/execute`, TENANT, { code: `mine = ${JSON.stringify(id)}` });
    for (let round = 0; round < 5; round++) {
      for (const id of ids) {
        const reply = await call(cluster.url, 'POST', `/v1/sessions/${id}/execute`, TENANT, { code: 'mine' });
        expect(reply.body.value).toBe(JSON.stringify(id).replaceAll('"', "'"));
      }
    }
    const stream = await StreamClient.open(wsUrl(cluster.url, `/v1/sessions/${ids[0]}/stream`), TENANT);
    stream.send({ type: 'execute', id: 'x', code: "print('over the proxy')\nmine" });
    expect((await stream.next((m) => m.type === 'result')).result.value).toBe(JSON.stringify(ids[0]).replaceAll('"', "'"));
    expect(
      stream.messages
        .filter((m) => m.type === 'output')
        .map((m) => m.text)
        .join(''),
    ).toBe('over the proxy\n');
    await stream.close();
  });

  it('sends no new sessions to a draining node, whose sessions keep answering', async () => {
    const ids = [await create(), await create(), await create()];
    const draining = cluster.node(ids[0]!);
    const kept = ids[0]!;
    expect((await call(draining.serving.url, 'POST', '/v1/admin/drain', ADMIN)).status).toBe(202);
    await cluster.until(async () => (await cluster.upServers()) === 5, 'the draining node out of placement');
    const fresh = [await create(), await create(), await create(), await create()];
    expect(fresh.filter((id) => id.startsWith(`${draining.id}.`))).toEqual([]);
    expect((await call(cluster.url, 'POST', `/v1/sessions/${kept}/execute`, TENANT, { code: '6 * 7' })).body.value).toBe('42');
    for (const id of [...ids, ...fresh]) await call(cluster.url, 'DELETE', `/v1/sessions/${id}`, TENANT);
    expect(await draining.serving.exited).toBe(0);
    await cluster.restart(draining);
    await cluster.until(async () => (await cluster.upServers()) === 6, 'the restarted node back');
  });

  it("answers a killed node's sessions with 503 node_unavailable at once, then 410 once it is back, and leaves no orphan", async () => {
    const ids = [await create(), await create(), await create()];
    const victim = cluster.node(ids[0]!);
    const poolId = victim.serving.poolId;
    victim.serving.process.kill('SIGKILL');
    await victim.serving.exited;
    const t0 = Date.now();
    let reply = await call(cluster.url, 'GET', `/v1/sessions/${ids[0]}`, TENANT);
    while (reply.status !== 503) reply = await call(cluster.url, 'GET', `/v1/sessions/${ids[0]}`, TENANT);
    expect(Date.now() - t0).toBeLessThan(2_000);
    expect(reply.body.error.code).toBe('node_unavailable');
    await cluster.until(async () => processesMentioning(poolId).length === 0, "the killed node's Python processes gone");
    await cluster.restart(victim);
    await cluster.until(async () => (await cluster.upServers()) === 6, 'the restarted node back');
    const lost = await call(cluster.url, 'GET', `/v1/sessions/${ids[0]}`, TENANT);
    expect([lost.status, lost.body.error.code]).toEqual([410, 'session_lost']);
  });

  it('lets an execution in flight finish through the proxy when its node gets SIGTERM', async () => {
    const id = await create();
    const node = cluster.node(id);
    const running = call(cluster.url, 'POST', `/v1/sessions/${id}/execute`, TENANT, {
      code: "import time\nprint('started', flush=True)\ntime.sleep(1.8)\n'finished'",
    });
    await until(async () => (await call(cluster.url, 'GET', `/v1/sessions/${id}`, TENANT)).body.executing === true);
    node.serving.process.kill('SIGTERM');
    const result = await running;
    expect([result.status, result.body.value]).toEqual([200, "'finished'"]);
    expect(await node.serving.exited).toBe(0);
    await cluster.restart(node);
    await cluster.until(async () => (await cluster.upServers()) === 6, 'the restarted node back');
  });

  it('ends requests to a stopped node within 2.5 s, REST and WebSocket, and the session keeps its state once it runs again', async () => {
    const id = await create();
    await call(cluster.url, 'POST', `/v1/sessions/${id}/execute`, TENANT, { code: 'kept = 42' });
    const node = cluster.node(id);
    const stream = await StreamClient.open(wsUrl(cluster.url, `/v1/sessions/${id}/stream`), TENANT);
    node.serving.process.kill('SIGSTOP');
    const t0 = Date.now();
    const inFlight = await call(cluster.url, 'POST', `/v1/sessions/${id}/execute`, TENANT, { code: 'kept' }).catch(
      (error: unknown) => error,
    );
    await stream.closed;
    const fresh = await call(cluster.url, 'GET', `/v1/sessions/${id}`, TENANT).catch((error: unknown) => error);
    expect(Date.now() - t0).toBeLessThan(2_500);
    expect(inFlight instanceof Error ? 'cut' : (inFlight as { status: number }).status).not.toBe(200);
    expect(fresh instanceof Error ? 'cut' : (fresh as { status: number }).status).toBe(503);
    node.serving.process.kill('SIGCONT');
    await cluster.until(async () => (await cluster.upServers()) === 6, 'the node back after SIGCONT');
    expect((await call(cluster.url, 'POST', `/v1/sessions/${id}/execute`, TENANT, { code: 'kept' })).body.value).toBe('42');
  });

  it('has the typed client say a session is lost (410) once its node is back, rather than retry or hang', async () => {
    const client = new Client({
      url: cluster.url,
      token: TENANT,
      WebSocket: WebSocket as unknown as WebSocketConstructor,
      reconnect: { attempts: 8, delayMs: 100 },
    });
    const session = await client.createSession();
    made.push(session.id);
    const node = cluster.node(session.id);
    let started!: () => void;
    const output = new Promise<void>((resolve) => (started = resolve));
    const running = session.execute("import time\nprint('go', flush=True)\ntime.sleep(30)", { onOutput: () => started() });
    await output;
    node.serving.process.kill('SIGKILL');
    await node.serving.exited;
    await cluster.restart(node);
    await expect(running).rejects.toMatchObject({ code: 'session_lost', status: 410 });
    await cluster.until(async () => (await cluster.upServers()) === 6, 'the restarted node back');
  });

  it('keeps routing every session after the proxy restarts: there is no table to lose', async () => {
    const ids = [await create(), await create(), await create()];
    await cluster.stopProxy();
    await cluster.startProxy();
    for (const id of ids) expect((await call(cluster.url, 'GET', `/v1/sessions/${id}`, TENANT)).status).toBe(200);
  });

  it('gives a full node no new sessions while others have room', async () => {
    const full = cluster.nodes[0]!;
    for (let i = 0; i < 4; i++) made.push((await call(full.serving.url, 'POST', '/v1/sessions', TENANT)).body.id as string);
    await cluster.until(async () => {
      const stats = await (await fetch(`http://127.0.0.1:${cluster.statsPort}/metrics`)).text();
      return /haproxy_server_weight\{proxy="placement",server="n1"\} 0/.test(stats);
    }, 'the full node weighted 0');
    const fresh = [];
    for (let i = 0; i < 4; i++) fresh.push(await create());
    expect(fresh.filter((id) => id.startsWith(`${full.id}.`))).toEqual([]);
  });
});
