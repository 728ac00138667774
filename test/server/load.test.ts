import { describe, expect, it } from 'vitest';
import { processesMentioning } from '../helpers/os.js';
import { call, serve, TOKENS } from './helpers.js';

const CLIENTS = 50;
const EXECUTES = 20;

describe('load', () => {
  it(`${CLIENTS} clients × ${EXECUTES} executes at once, all answered correctly`, { timeout: 60_000 }, async () => {
    // Each client holds its own named session (one execution per session at a time), so the pool
    // must hold 50 sessions: idle Python processes cost memory, not CPU.
    const server = await serve({
      acquireTimeoutMs: 45_000,
      tokens: [
        { token: TOKENS.alice, tenant: 'alice', maxSessions: CLIENTS, maxConcurrent: CLIENTS },
        { token: TOKENS.bob, tenant: 'bob', maxSessions: CLIENTS, maxConcurrent: CLIENTS },
      ],
      poolOptions: { minIdle: 1, maxSessions: CLIENTS },
    });
    const { url } = server;
    const tenants = [TOKENS.alice, TOKENS.bob];
    const started = performance.now();
    const client = async (c: number): Promise<number> => {
      const token = tenants[c % 2]!;
      const created = await call(url, 'POST', '/v1/sessions', token);
      expect(created.status).toBe(201);
      const id: string = created.body.id;
      let ok = 0;
      for (let i = 0; i < EXECUTES; i++) {
        const r = await call(url, 'POST', `/v1/sessions/${id}/execute`, token, {
          code: `${i === 0 ? 'acc = 0\n' : ''}acc += ${c * 1000 + i}\nprint("c${c}-${i}")\nacc`,
        });
        expect(r.status).toBe(200);
        const expected = Array.from({ length: i + 1 }, (_, k) => c * 1000 + k).reduce((a, b) => a + b, 0);
        expect(r.body).toMatchObject({ status: 'ok', value: String(expected), stdout: `c${c}-${i}\n`, executionCount: i + 1 });
        ok++;
      }
      expect((await call(url, 'DELETE', `/v1/sessions/${id}`, token)).status).toBe(204);
      return ok;
    };
    const counts = await Promise.all(Array.from({ length: CLIENTS }, (_, c) => client(c)));
    const seconds = (performance.now() - started) / 1000;
    expect(counts.reduce((a, b) => a + b, 0)).toBe(CLIENTS * EXECUTES);
    expect(server.registry.size).toBe(0);
    const metrics: string = (await call(url, 'GET', '/metrics', null)).body;
    expect(metrics).toContain(`pyrepl3_executions_total{kind="session",outcome="ok"} ${CLIENTS * EXECUTES}`);
    console.info(`load: ${CLIENTS * EXECUTES} executes by ${CLIENTS} clients in ${seconds.toFixed(2)} s`);
    await server.close({ graceMs: 0 });
    expect(processesMentioning(server.pool.id)).toEqual([]);
  });
});
