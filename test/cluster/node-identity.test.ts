import { describe, expect, it } from 'vitest';
import { call, serve, TOKENS } from '../server/helpers.js';

const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';

describe('session ids name their node and its start', () => {
  it('makes <node>.<epoch>.<uuid> ids, and tells a wrong node (421), an earlier start (410) and no session (404) apart', async () => {
    const first = await serve({ nodeId: 'n1' });
    const created = await call(first.url, 'POST', '/v1/sessions', TOKENS.alice);
    const id: string = created.body.id;
    expect(id).toMatch(new RegExp(`^n1\\.[0-9a-f]{8}\\.${UUID}$`));
    expect((await call(first.url, 'GET', `/v1/sessions/${id}`, TOKENS.alice)).status).toBe(200);

    // The same node id, started again: the session's state died with the first process.
    const restarted = await serve({ nodeId: 'n1' });
    const lost = await call(restarted.url, 'POST', `/v1/sessions/${id}/execute`, TOKENS.alice, { code: '1' });
    expect([lost.status, lost.body.error.code]).toEqual([410, 'session_lost']);

    const other = await serve({ nodeId: 'n2' });
    const misdirected = await call(other.url, 'GET', `/v1/sessions/${id}`, TOKENS.alice);
    expect([misdirected.status, misdirected.body.error.code]).toEqual([421, 'misdirected']);

    const epoch = id.split('.')[1];
    for (const never of ['no-such-session', `n1.${epoch}.00000000-0000-4000-8000-000000000000`]) {
      const reply = await call(first.url, 'DELETE', `/v1/sessions/${never}`, TOKENS.alice);
      expect([never, reply.status, reply.body.error.code]).toEqual([never, 404, 'not_found']);
    }
  });

  it('makes Jupyter kernel and session ids UUID-shaped, <node>_<epoch> first, and tells 421, 410 and 404 apart for them too', async () => {
    const first = await serve({ nodeId: 'web-2' });
    const kernel = await call(first.url, 'POST', '/api/kernels', TOKENS.alice, { name: 'python3' });
    // jupyter_server routes kernel ids by \w+-\w+-\w+-\w+-\w+: the node's dash becomes an underscore.
    expect(kernel.body.id).toMatch(/^web_2_[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    const notebook = await call(first.url, 'POST', '/api/sessions', TOKENS.alice, { path: 'a.ipynb', kernel: { id: kernel.body.id } });
    expect(notebook.body.id).toMatch(/^web_2_[0-9a-f]{8}-/);

    const restarted = await serve({ nodeId: 'web-2' });
    const other = await serve({ nodeId: 'web-3' });
    for (const path of [`/api/kernels/${kernel.body.id}`, `/api/sessions/${notebook.body.id}`]) {
      const lost = await call(restarted.url, 'GET', path, TOKENS.alice);
      const misdirected = await call(other.url, 'GET', path, TOKENS.alice);
      const never = await call(first.url, 'GET', path.replace(/[0-9a-f]{12}$/, '000000000000'), TOKENS.alice);
      expect([lost.status, lost.body.reason, misdirected.status, misdirected.body.reason, never.status]).toEqual([
        410,
        'session_lost',
        421,
        'misdirected',
        404,
      ]);
    }
  });

  it('says which node and start it is in /metrics', async () => {
    const server = await serve({ nodeId: 'n7' });
    const { id } = (await call(server.url, 'POST', '/v1/sessions', TOKENS.alice)).body;
    const epoch = id.split('.')[1];
    const metrics: string = (await call(server.url, 'GET', '/metrics', null)).body;
    expect(metrics).toContain(`pyrepl3_node_info{node="n7",epoch="${epoch}"} 1`);
  });
});
