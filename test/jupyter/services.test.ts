import { afterEach, describe, expect, it } from 'vitest';
import { serve, TOKENS } from '../server/helpers.js';
import { clients, disposeClients, ofType, runCell } from './helpers.js';

afterEach(disposeClients);

describe('@jupyterlab/services against pyrepl3 serve', () => {
  it('starts a kernel and runs cells with streams, results, errors and displays, in order', async () => {
    const server = await serve();
    const { kernels } = clients(server, TOKENS.alice);
    const kernel = kernels.startNew({ name: 'python3' });
    const connection = await kernel;
    const info = await connection.info;
    expect(info.protocol_version).toBe('5.3');
    expect(info.language_info.name).toBe('python');

    const hello = await runCell(connection, 'import sys\nprint("hello")\nprint("oops", file=sys.stderr)\nx = 20\nx * 2 + 2');
    expect(hello.reply.content).toMatchObject({ status: 'ok', execution_count: 1 });
    // Printed text arrives in as many stream messages as the pipes deliver it in: count runs of them.
    const types = hello.iopub.map((m) => m.header.msg_type).filter((type, i, all) => type !== 'stream' || all[i - 1] !== 'stream');
    expect(types).toEqual(['status', 'execute_input', 'stream', 'execute_result', 'status']);
    const printed = (name: string) =>
      ofType(hello, 'stream')
        .filter((m) => m.content.name === name)
        .map((m) => m.content.text)
        .join('');
    expect([printed('stdout'), printed('stderr')]).toEqual(['hello\n', 'oops\n']);
    expect(ofType(hello, 'execute_result')[0]!.content).toMatchObject({ execution_count: 1, data: { 'text/plain': '42' } });

    const shown = await runCell(connection, 'display({"text/html": "<b>hi</b>"}, raw=True)\nclear_output(wait=True)');
    expect(ofType(shown, 'display_data')[0]!.content.data).toEqual({ 'text/html': '<b>hi</b>' });
    expect(ofType(shown, 'clear_output')[0]!.content).toEqual({ wait: true });

    const failed = await runCell(connection, 'x / 0');
    expect(failed.reply.content).toMatchObject({ status: 'error', ename: 'ZeroDivisionError', execution_count: 3 });
    expect(ofType(failed, 'error')[0]!.content.traceback.join('\n')).toContain('ZeroDivisionError: division by zero');

    const completion = await connection.requestComplete({ code: 'y = x.bit_le', cursor_pos: 12 });
    expect(completion.content).toMatchObject({ status: 'ok', matches: ['x.bit_length'], cursor_start: 4, cursor_end: 12 });
    const inspection = await connection.requestInspect({ code: 'len', cursor_pos: 3, detail_level: 0 });
    expect(inspection.content).toMatchObject({ status: 'ok', found: true });
    await connection.shutdown();
  });

  it('lists only the caller’s kernels and starts notebook sessions', async () => {
    const server = await serve();
    const alice = clients(server, TOKENS.alice);
    const bob = clients(server, TOKENS.bob);
    const session = await alice.sessions.startNew({ path: 'a.ipynb', name: 'a.ipynb', type: 'notebook', kernel: { name: 'python3' } });
    expect(session.path).toBe('a.ipynb');
    const run = await runCell(session.kernel!, '1 + 1');
    expect(ofType(run, 'execute_result')[0]!.content.data).toEqual({ 'text/plain': '2' });
    await alice.kernels.refreshRunning();
    await bob.kernels.refreshRunning();
    expect([...alice.kernels.running()].map((k) => k.id)).toEqual([session.kernel!.id]);
    expect([...bob.kernels.running()]).toEqual([]);
    // Changing a session's kernel (PATCH) shuts the old one down.
    const first = session.kernel!.id;
    await session.changeKernel({ name: 'python3' });
    await alice.kernels.refreshRunning();
    expect([...alice.kernels.running()].map((k) => k.id)).toEqual([session.kernel!.id]);
    expect(session.kernel!.id).not.toBe(first);
    await session.shutdown();
    await alice.kernels.refreshRunning();
    expect([...alice.kernels.running()]).toEqual([]);
  });
});
