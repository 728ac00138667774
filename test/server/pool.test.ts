import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { validateTokens } from '../../src/server/index.js';
import { call, serve, TOKENS, until } from './helpers.js';

const { alice, bob, carol } = TOKENS;
const ADMIN = 'admin-token-0123456789';
const tokens = [
  { token: alice, tenant: 'alice', maxSessions: 4 },
  { token: bob, tenant: 'bob' },
  { token: carol, tenant: 'carol', maxSessions: 1 },
  { token: ADMIN, tenant: 'ops', admin: true },
];

describe('GET /v1/pool', () => {
  it('shows an admin the whole pool, each session with its owner', async () => {
    const server = await serve({ tokens });
    const { url, pool } = server;
    const aliceId: string = (await call(url, 'POST', '/v1/sessions', alice)).body.id;
    const bobId: string = (await call(url, 'POST', '/v1/sessions', bob)).body.id;
    await call(url, 'POST', `/v1/sessions/${aliceId}/execute`, alice, { code: '1 / 0' });

    const reply = await call(url, 'GET', '/v1/pool', ADMIN);
    expect(reply.status).toBe(200);
    const view = reply.body;
    expect(view).toMatchObject({
      view: 'admin',
      id: pool.id,
      state: 'open',
      capacity: { minIdle: 1, maxSessions: 4 },
      template: null,
      waiters: [],
    });
    expect(view.metrics).toMatchObject({ busy: 2, acquisitions: 2 });
    const byOwner = new Map(view.sessions.map((s: any) => [s.owner?.namedSessionId ?? null, s]));
    const aliceSession: any = byOwner.get(aliceId);
    const bobSession: any = byOwner.get(bobId);
    expect(aliceSession).toMatchObject({
      phase: 'leased',
      state: 'ready.idle',
      owner: { tenant: 'alice', namedSessionId: aliceId },
      executions: 1,
    });
    expect(aliceSession.lastError).toContain('ZeroDivisionError');
    expect(aliceSession.pid).toBeGreaterThan(0);
    expect(bobSession).toMatchObject({ phase: 'leased', owner: { tenant: 'bob', namedSessionId: bobId } });
    // What the pool itself says, plus owners: same sessions, same ids.
    expect(view.sessions.map((s: any) => s.id).sort()).toEqual(
      pool
        .snapshot()
        .sessions.map((s) => s.id)
        .sort(),
    );
    expect(view.sessions.filter((s: any) => s.owner === null).every((s: any) => s.phase !== 'leased')).toBe(true);
  });

  it("shows a tenant the pool's capacity and counters but only its own sessions", async () => {
    const server = await serve({ tokens });
    const { url } = server;
    const aliceId: string = (await call(url, 'POST', '/v1/sessions', alice)).body.id;
    const bobId: string = (await call(url, 'POST', '/v1/sessions', bob)).body.id;

    const aliceView = (await call(url, 'GET', '/v1/pool', alice)).body;
    expect(aliceView.view).toBe('tenant');
    expect(aliceView.capacity).toMatchObject({ minIdle: 1, maxSessions: 4 });
    expect(aliceView.metrics).toMatchObject({ busy: 2, acquisitions: 2 });
    expect(aliceView.sessions).toHaveLength(1);
    expect(aliceView.sessions[0]).toMatchObject({ phase: 'leased', owner: { tenant: 'alice', namedSessionId: aliceId } });
    // Nothing of the others: no waiters, no template, no pool id, no other session.
    for (const hidden of ['id', 'waiters', 'template']) expect(aliceView).not.toHaveProperty(hidden);
    expect(JSON.stringify(aliceView)).not.toContain(bobId);

    const bobView = (await call(url, 'GET', '/v1/pool', bob)).body;
    expect(bobView.sessions.map((s: any) => s.owner.namedSessionId)).toEqual([bobId]);
    expect((await call(url, 'GET', '/v1/pool', carol)).body.sessions).toEqual([]);
    expect((await call(url, 'GET', '/v1/pool', null)).status).toBe(401);
  });

  it("shows a tenant its one-shot run while it runs, and nobody else's", async () => {
    const server = await serve({ tokens });
    const { url } = server;
    const gate = join(mkdtempSync(join(tmpdir(), 'pyrepl3-pool-view-')), 'go');
    const run = call(url, 'POST', '/v1/execute', bob, {
      code: `import os, time\nwhile not os.path.exists(${JSON.stringify(gate)}): time.sleep(0.01)\n"done"`,
    });
    await until(async () => (await call(url, 'GET', '/v1/pool', bob)).body.sessions.length === 1);
    const bobView = (await call(url, 'GET', '/v1/pool', bob)).body;
    expect(bobView.sessions[0]).toMatchObject({ phase: 'leased', state: 'busy.running', owner: { tenant: 'bob', namedSessionId: null } });
    expect((await call(url, 'GET', '/v1/pool', alice)).body.sessions).toEqual([]);
    writeFileSync(gate, '');
    expect((await run).body.value).toBe("'done'");
    expect((await call(url, 'GET', '/v1/pool', bob)).body.sessions).toEqual([]);
  });

  it('treats the generated random token as an admin token', async () => {
    const server = await serve({ generatedToken: true });
    expect(server.generatedToken).not.toBeNull();
    const view = (await call(server.url, 'GET', '/v1/pool', server.generatedToken)).body;
    expect(view).toMatchObject({ view: 'admin', id: server.pool.id, waiters: [] });
    expect(view.sessions).toHaveLength(1);
    expect(view.sessions[0]).toMatchObject({ phase: 'idle', owner: null });
  });

  it('is described in openapi.json', async () => {
    const { url } = await serve({ tokens });
    const doc = (await call(url, 'GET', '/openapi.json', null)).body;
    expect(doc.paths['/v1/pool'].get.responses['200'].content['application/json'].schema).toEqual({
      $ref: '#/components/schemas/PoolSnapshot',
    });
    expect(doc.components.schemas.PoolSnapshot.properties.sessions.items.required).toContain('owner');
  });
});

describe('tokens file', () => {
  it('accepts "admin": true or false and refuses anything else', () => {
    expect(validateTokens([{ token: ADMIN, tenant: 'ops', admin: true }])).toEqual([{ token: ADMIN, tenant: 'ops', admin: true }]);
    expect(validateTokens([{ token: alice, tenant: 'alice', admin: false }])).toEqual([{ token: alice, tenant: 'alice', admin: false }]);
    expect(() => validateTokens([{ token: ADMIN, tenant: 'ops', admin: 'yes' }])).toThrow(/admin must be true or false/);
  });
});
