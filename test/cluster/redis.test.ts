import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serveCli, useBuiltCli } from '../server/cli.js';
import { call } from '../server/helpers.js';
import { RedisServer, SMALL, TENANT, Topology } from './topology.js';

const serve = serveCli(useBuiltCli());
let redis: RedisServer;
let cluster: Topology;

beforeAll(async () => {
  redis = await RedisServer.start();
  cluster = await Topology.start(serve, ['--redis-url', redis.url]);
}, 60_000);

afterAll(async () => {
  await cluster.stop();
  await redis.stop();
});

describe('three nodes sharing Redis', () => {
  it("lists a tenant's sessions on every node through the proxy", async () => {
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) ids.push((await call(cluster.url, 'POST', '/v1/sessions', TENANT)).body.id);
    expect(new Set(ids.map((id) => id.split('.')[0])).size).toBe(3);
    // Each node publishes its sessions about every second.
    await cluster.until(async () => (await call(cluster.url, 'GET', '/v1/sessions', TENANT)).body.sessions.length === 6, 'all six listed');
    for (const node of cluster.nodes) {
      const listed = (await call(node.serving.url, 'GET', '/v1/sessions', TENANT)).body.sessions.map((s: { id: string }) => s.id);
      expect([node.id, [...listed].sort()]).toEqual([node.id, [...ids].sort()]);
    }
    for (const id of ids) await call(cluster.url, 'DELETE', `/v1/sessions/${id}`, TENANT);
  });

  it("holds maxSessions 2 across the nodes under 30 concurrent creates, and frees a killed node's leases within TTL + 1 s", async () => {
    const replies = await Promise.all(Array.from({ length: 30 }, () => call(cluster.url, 'POST', '/v1/sessions', SMALL)));
    const created = replies.filter((r) => r.status === 201).map((r) => r.body.id as string);
    expect(created.length).toBe(2);
    expect(replies.filter((r) => r.status !== 201).map((r) => [r.status, r.body.error.code])).toEqual(
      Array(28).fill([429, 'quota_exceeded']),
    );

    const victim = cluster.node(created[0]!);
    victim.serving.process.kill('SIGKILL');
    await victim.serving.exited;
    const t0 = Date.now();
    let retry = await call(cluster.url, 'POST', '/v1/sessions', SMALL);
    while (retry.status === 429) retry = await call(cluster.url, 'POST', '/v1/sessions', SMALL);
    expect(retry.status).toBe(201);
    expect(Date.now() - t0).toBeLessThan(3_000 + 1_000);
    await cluster.restart(victim);
    await cluster.until(async () => (await cluster.upServers()) === 6, 'the restarted node back');
    for (const id of [...created, retry.body.id]) await call(cluster.url, 'DELETE', `/v1/sessions/${id}`, SMALL);
  });

  it('fails creates closed while Redis is down, and keeps executes and deletes working', async () => {
    const { id } = (await call(cluster.url, 'POST', '/v1/sessions', TENANT)).body;
    await redis.stop();
    const refused = await call(cluster.url, 'POST', '/v1/sessions', TENANT);
    expect([refused.status, refused.body.error.code]).toEqual([503, 'quota_unavailable']);
    expect((await call(cluster.url, 'POST', `/v1/sessions/${id}/execute`, TENANT, { code: '6 * 7' })).body.value).toBe('42');
    expect((await call(cluster.url, 'DELETE', `/v1/sessions/${id}`, TENANT)).status).toBe(204);
    await redis.restart();
    await cluster.until(
      async () => (await call(cluster.url, 'POST', '/v1/sessions', TENANT)).status === 201,
      'creates again once Redis is back',
    );
  });
});
