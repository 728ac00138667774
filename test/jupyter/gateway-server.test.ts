import { afterEach, describe, expect, it } from 'vitest';
import { JupyterServerAnchor } from '../../bench/anchors/jupyter-server.js';
import { isAlive } from '../helpers/os.js';
import { serve, TOKENS } from '../server/helpers.js';
import { clients, DEBIAN_PYTHON, disposeClients, ofType, runCell } from './helpers.js';

const anchors: JupyterServerAnchor[] = [];

afterEach(async () => {
  await disposeClients();
  for (const anchor of anchors.splice(0)) {
    await anchor.close();
    expect(isAlive(anchor.child.pid!)).toBe(false);
  }
});

/** `jupyter server --gateway-url=...`: the server JupyterLab and Notebook 7 run, with its kernels on the gateway. */
async function jupyterServer(gatewayUrl: string): Promise<JupyterServerAnchor> {
  const anchor = await JupyterServerAnchor.start(DEBIAN_PYTHON, [
    `--gateway-url=${gatewayUrl}`,
    `--GatewayClient.auth_token=${TOKENS.alice}`,
  ]);
  anchors.push(anchor);
  return anchor;
}

describe('jupyter server --gateway-url (the JupyterLab / Notebook 7 path)', () => {
  it('runs cells of a notebook session on PyREPL3 kernels', async () => {
    const gateway = await serve();
    const lab = await jupyterServer(gateway.url);
    const { sessions } = clients(lab.url, lab.token);
    const session = await sessions.startNew({ path: 'lab.ipynb', name: 'lab.ipynb', type: 'notebook', kernel: { name: 'python3' } });
    const kernel = session.kernel!;
    // The kernel is a named session of alice's on the gateway.
    expect(gateway.registry.size).toBe(1);
    const run = await runCell(kernel, 'import os\nprint("pid", os.getpid())\ndisplay({"text/markdown": "**hi**"}, raw=True)\n6 * 7');
    expect(run.reply.content).toMatchObject({ status: 'ok', execution_count: 1 });
    const printed = ofType(run, 'stream')
      .map((m) => m.content.text)
      .join('');
    const pool = gateway.pool.snapshot().sessions.map((s) => s.pid);
    expect(pool).toContain(Number(/pid (\d+)/.exec(printed)![1]));
    expect(ofType(run, 'display_data')[0]!.content.data).toEqual({ 'text/markdown': '**hi**' });
    expect(ofType(run, 'execute_result')[0]!.content.data).toEqual({ 'text/plain': '42' });
    const failed = await runCell(kernel, '1 / 0');
    expect(failed.reply.content).toMatchObject({ status: 'error', ename: 'ZeroDivisionError' });
    await session.shutdown();
    expect(gateway.registry.size).toBe(0);
  });
});
