import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { clients, disposeClients, ofType, runCell } from '../jupyter/helpers.js';
import { serveCli, useBuiltCli } from '../server/cli.js';
import { call } from '../server/helpers.js';
import { RedisServer, TENANT, Topology } from './topology.js';

const serve = serveCli(useBuiltCli());
let redis: RedisServer;
let cluster: Topology;

beforeAll(async () => {
  redis = await RedisServer.start();
  cluster = await Topology.start(serve, ['--redis-url', redis.url, '--jupyter-url-token']);
}, 60_000);

afterAll(async () => {
  await cluster.stop();
  await redis.stop();
});

afterEach(disposeClients);

const JUPYTER_ID = /^(n[123])_[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const nodeOf = (id: string): string => JUPYTER_ID.exec(id)![1]!;
const kernelIds = async (url: string): Promise<string[]> =>
  ((await call(url, 'GET', '/api/kernels', TENANT)).body as { id: string }[]).map((k) => k.id).sort();

describe('the Jupyter API on three nodes behind HAProxy (docs/deploy/haproxy.cfg)', () => {
  it('routes every request for a kernel or notebook session to its node, REST and WebSocket, and lists kernels of every node', async () => {
    const { kernels, sessions } = clients(cluster.url, TENANT);
    // One kernel started on each node directly (placement is another test's), then used through the proxy.
    const models = [];
    for (const node of cluster.nodes) models.push((await call(node.serving.url, 'POST', '/api/kernels', TENANT, { name: 'python3' })).body);
    const ids: string[] = models.map((model) => model.id);
    expect(ids.map(nodeOf)).toEqual(['n1', 'n2', 'n3']);
    const connections = models.map((model) => kernels.connectTo({ model }));

    for (const [i, connection] of connections.entries()) await runCell(connection, `mine = ${i}`);
    for (let round = 0; round < 5; round++) {
      for (const [i, connection] of connections.entries()) {
        const run = await runCell(connection, 'mine');
        expect(ofType(run, 'execute_result')[0]!.content.data).toEqual({ 'text/plain': String(i) });
      }
      for (const id of ids) {
        expect((await call(cluster.url, 'POST', `/api/kernels/${id}/interrupt`, TENANT)).status).toBe(204);
        expect((await call(cluster.url, 'GET', `/t/${TENANT}/api/kernels/${id}`, null)).body.id).toBe(id);
      }
    }

    // Each node publishes its kernels about every second; every node then lists all three.
    await cluster.until(async () => (await kernelIds(cluster.url)).length === 3, 'all three kernels listed');
    for (const node of cluster.nodes) expect([node.id, await kernelIds(node.serving.url)]).toEqual([node.id, [...ids].sort()]);

    const notebook = await sessions.startNew({ path: 'a.ipynb', name: 'a.ipynb', type: 'notebook', kernel: { name: 'python3' } });
    expect(notebook.id).toMatch(JUPYTER_ID);
    await notebook.kernel!.info; // answered before the kernel is shut down, so no request of it is left pending
    for (let i = 0; i < 6; i++) {
      const reply = await call(cluster.url, 'GET', `/api/sessions/${notebook.id}`, TENANT);
      expect([reply.status, reply.body.kernel?.id]).toEqual([200, notebook.kernel!.id]);
    }

    const wrong = cluster.nodes.find((node) => node.id !== nodeOf(ids[0]!))!;
    const misdirected = await call(wrong.serving.url, 'GET', `/api/kernels/${ids[0]}`, TENANT);
    expect([misdirected.status, misdirected.body.reason]).toEqual([421, 'misdirected']);

    await notebook.shutdown();
    for (const connection of connections) await connection.shutdown();
  });

  it("answers a restarted node's kernels with 410, and stops listing them once their leases lapse", async () => {
    const { kernels } = clients(cluster.url, TENANT);
    const kernel = await kernels.startNew({ name: 'python3' });
    await kernel.info; // connected before its node dies, so its kernel_info request is not left pending
    await cluster.until(async () => (await kernelIds(cluster.url)).includes(kernel.id), 'the kernel listed');
    const holder = cluster.nodes.find((node) => node.id === nodeOf(kernel.id))!;
    holder.serving.process.kill('SIGKILL');
    await holder.serving.exited;
    await cluster.restart(holder);
    await cluster.until(async () => (await cluster.upServers()) === 6, 'the restarted node back');

    const lost = await call(cluster.url, 'GET', `/api/kernels/${kernel.id}`, TENANT);
    expect([lost.status, lost.body.reason]).toEqual([410, 'session_lost']);
    // The dead node's lease lapses after its TTL (3 s); then no node lists the kernel.
    await cluster.until(async () => !(await kernelIds(cluster.url)).includes(kernel.id), 'the lost kernel unlisted', 3_000 + 1_000);
  });
});
