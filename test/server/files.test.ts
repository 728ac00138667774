import { describe, expect, it } from 'vitest';
import { bodyOf, fetchRequest, nodeRequest } from './clients.js';
import { call, serve, TOKENS } from './helpers.js';

const { alice, bob } = TOKENS;
const auth = { authorization: `Bearer ${alice}` };

describe('files in and out of a named session', () => {
  it('uploads a CSV the code reads, and downloads a file the code wrote, byte for byte', async () => {
    const { url } = await serve();
    const id: string = (await call(url, 'POST', '/v1/sessions', alice)).body.id;
    const put = await fetchRequest(
      url,
      'PUT',
      `/v1/sessions/${id}/files/data/in.csv`,
      { ...auth, 'content-type': 'text/csv' },
      Buffer.from('a,b\n1,2\n'),
    );
    expect(put.status).toBe(204);
    // A JSON file is a file: stored as sent, not parsed.
    expect(
      (
        await fetchRequest(
          url,
          'PUT',
          `/v1/sessions/${id}/files/conf.json`,
          { ...auth, 'content-type': 'application/json' },
          Buffer.from('{"a":'),
        )
      ).status,
    ).toBe(204);
    const run = await call(url, 'POST', `/v1/sessions/${id}/execute`, alice, {
      code: 'import csv\nopen("chart.png", "wb").write(bytes(range(256)) * 4)\n[list(csv.reader(open("data/in.csv"))), open("conf.json").read()]',
    });
    expect(run.body.value).toBe(`[[['a', 'b'], ['1', '2']], '{"a":']`);
    const response = await fetch(`${url}/v1/sessions/${id}/files/chart.png`, { headers: auth });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/octet-stream');
    expect(Buffer.from(await response.arrayBuffer())).toEqual(
      Buffer.concat(Array.from({ length: 4 }, () => Buffer.from(Array.from({ length: 256 }, (_, i) => i)))),
    );
  });

  it('refuses paths that leave the folder with 400, and answers 404, 413 and 404 for another tenant', async () => {
    const { url } = await serve({ bodyLimit: 64 * 1024 });
    const id: string = (await call(url, 'POST', '/v1/sessions', alice)).body.id;
    await call(url, 'POST', `/v1/sessions/${id}/execute`, alice, {
      code: 'import os\nos.symlink("/etc", "etc")\nopen("big", "wb").write(b"x" * 100000)',
    });
    const files = `/v1/sessions/${id}/files`;
    for (const path of ['..%2F..%2Fetc%2Fhostname', '%2Fetc%2Fhostname', 'etc/hostname', 'a/..%2F..%2Fx']) {
      const seen = await nodeRequest(url, 'GET', `${files}/${path}`, auth);
      expect(seen.status, path).toBe(400);
      expect(bodyOf(seen).error.code, path).toBe('invalid_path');
    }
    expect(
      bodyOf(await nodeRequest(url, 'PUT', `${files}/etc/evil`, { ...auth, 'content-type': 'text/plain' }, Buffer.from('x'))).error.code,
    ).toBe('invalid_path');
    expect(bodyOf(await nodeRequest(url, 'GET', `${files}/missing`, auth))).toMatchObject({ error: { code: 'not_found' } });
    expect(bodyOf(await nodeRequest(url, 'GET', `${files}/big`, auth))).toMatchObject({ error: { code: 'file_too_large' } });
    expect(
      (await nodeRequest(url, 'PUT', `${files}/up`, { ...auth, 'content-type': 'application/octet-stream' }, Buffer.alloc(100_000))).status,
    ).toBe(413);
    expect((await nodeRequest(url, 'GET', `${files}/big`, { authorization: `Bearer ${bob}` })).status).toBe(404);
  });

  it('a file transfer and an execution do not run at once in one session (409)', async () => {
    const { url } = await serve();
    const id: string = (await call(url, 'POST', '/v1/sessions', alice)).body.id;
    const running = call(url, 'POST', `/v1/sessions/${id}/execute`, alice, { code: 'import time\ntime.sleep(0.5)' });
    while (!(await call(url, 'GET', `/v1/sessions/${id}`, alice)).body.executing) await new Promise((resolve) => setImmediate(resolve));
    const busy = await nodeRequest(url, 'PUT', `/v1/sessions/${id}/files/x`, { ...auth, 'content-type': 'text/plain' }, Buffer.from('x'));
    expect(bodyOf(busy)).toMatchObject({ error: { code: 'session_busy' } });
    await running;
  });
});
