import { describe, expect, it } from 'vitest';
import type { OutputChunk } from '../../src/index.js';
import { makePool, SPAWN_MODES } from '../helpers/pool.js';
import { call, serve, TOKENS } from '../server/helpers.js';

/** Debian's interpreter, which has python3-matplotlib (the default python3 may not). */
const DEBIAN_PYTHON = '/usr/bin/python3';
const PNG_SIGNATURE = 'iVBORw0KGgo'; // base64 of the PNG magic bytes

describe.each(SPAWN_MODES)('rich outputs (spawn %s)', (mode) => {
  it('keeps prints, display(), clear_output() and the value in order, and streams the displays', async () => {
    const pool = makePool({ spawn: mode, minIdle: 1, maxSessions: 1 });
    const s = await pool.acquire();
    const streamed: OutputChunk[] = [];
    const code = [
      'class Card:',
      '    def _repr_html_(self): return "<b>card</b>"',
      'print("before")',
      'display(Card(), 7)',
      'print("between")',
      'display({"text/markdown": "# hi"}, raw=True, metadata={"isolated": True})',
      'clear_output(wait=True)',
      '41 + 1',
    ].join('\n');
    const r = await s.execute(code, { onOutput: (chunk) => streamed.push(chunk) });
    expect(r.status).toBe('ok');
    expect(r.outputs).toEqual([
      { type: 'stream', stream: 'stdout', text: 'before\n' },
      { type: 'display', data: { 'text/html': '<b>card</b>', 'text/plain': expect.stringContaining('Card object') }, metadata: {} },
      { type: 'display', data: { 'text/plain': '7' }, metadata: {} },
      { type: 'stream', stream: 'stdout', text: 'between\n' },
      { type: 'display', data: { 'text/markdown': '# hi' }, metadata: { isolated: true } },
      { type: 'clear', wait: true },
      { type: 'result', data: { 'text/plain': '42' }, executionCount: 1 },
    ]);
    expect(streamed.filter((c) => c.type !== 'stream')).toEqual(r.outputs.filter((o) => o.type === 'display' || o.type === 'clear'));
    await s.release();
  });

  it('ends the outputs with the error of a failing cell, and a display id names an output', async () => {
    const pool = makePool({ spawn: mode, minIdle: 1, maxSessions: 1 });
    const s = await pool.acquire();
    const r = await s.execute('display("a", display_id="d1")\ndisplay("b", display_id="d1", update=True)\n1/0');
    expect(r.outputs.map((o) => o.type)).toEqual(['display', 'display', 'error']);
    expect(r.outputs[1]).toMatchObject({ data: { 'text/plain': "'b'" }, displayId: 'd1', update: true });
    expect(r.outputs[2]).toMatchObject({ type: 'error', error: { name: 'ZeroDivisionError' } });
    await s.release();
  });

  it('a silent execution neither counts nor sets _', async () => {
    const pool = makePool({ spawn: mode, minIdle: 1, maxSessions: 1 });
    const s = await pool.acquire();
    await s.execute('5');
    const silent = await s.execute('6', { silent: true });
    expect(silent.value).toBe('6');
    const after = await s.execute('_');
    expect(after).toMatchObject({ value: '5', executionCount: 2 });
    await s.release();
  });

  it('a display beyond maxOutputBytes is dropped whole and the result says truncated', async () => {
    const pool = makePool({ spawn: mode, minIdle: 1, maxSessions: 1, limits: { maxOutputBytes: 1000 } });
    const s = await pool.acquire();
    const r = await s.execute('display("x" * 5000)\ndisplay("small")');
    expect(r.truncated).toBe(true);
    expect(r.outputs).toEqual([]);
    await s.release();
  });
});

describe('matplotlib inline', () => {
  it('plt.show() and figures left open become image/png displays, with no setup', async () => {
    const pool = makePool({ minIdle: 1, maxSessions: 1, pythonPath: DEBIAN_PYTHON });
    const s = await pool.acquire();
    const shown = await s.execute(
      'import matplotlib.pyplot as plt\nplt.plot([1, 2, 3])\nplt.show()\nplt.figure()\nplt.bar([1], [2])\nprint(len(plt.get_fignums()))',
    );
    expect(shown.status).toBe('ok');
    const images = shown.outputs.filter((o) => o.type === 'display');
    expect(images).toHaveLength(2);
    for (const image of images)
      expect(String(image.type === 'display' && image.data['image/png'])).toMatch(new RegExp(`^${PNG_SIGNATURE}`));
    expect(shown.stdout).toBe('1\n'); // the first figure was closed by show(); the second at the end
    const next = await s.execute('len(plt.get_fignums())');
    expect(next.value).toBe('0');
    expect(next.outputs.filter((o) => o.type === 'display')).toEqual([]);
    await s.release();
  });
});

describe('the service', () => {
  it('returns the outputs of a run', async () => {
    const server = await serve();
    const run = await call(server.url, 'POST', '/v1/execute', TOKENS.alice, {
      code: 'print("a")\ndisplay({"text/html": "<i>b</i>"}, raw=True)\n3',
    });
    expect(run.body.outputs).toEqual([
      { type: 'stream', stream: 'stdout', text: 'a\n' },
      { type: 'display', data: { 'text/html': '<i>b</i>' }, metadata: {} },
      { type: 'result', data: { 'text/plain': '3' }, executionCount: 1 },
    ]);
  });
});
