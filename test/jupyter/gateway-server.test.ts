import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { afterEach, describe, expect, it } from 'vitest';
import { isAlive } from '../helpers/os.js';
import { serve, TOKENS } from '../server/helpers.js';
import { clients, DEBIAN_PYTHON, disposeClients, ofType, runCell, toolEnv } from './helpers.js';

const LAB_TOKEN = 'lab-token-0123456789';
const children: ResultPromise[] = [];
const homes: string[] = [];

afterEach(async () => {
  await disposeClients();
  for (const child of children.splice(0)) {
    child.kill('SIGTERM');
    await child.catch(() => undefined);
    expect(isAlive(child.pid!)).toBe(false);
  }
  for (const home of homes.splice(0)) rmSync(home, { recursive: true, force: true });
});

/** A free port on 127.0.0.1, for a server that cannot be told to pick one and say which. */
async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const address = probe.address();
  await new Promise((resolve) => probe.close(resolve));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

/**
 * `jupyter server --gateway-url=...`: the server JupyterLab and Notebook 7 run, with its kernels
 * on the gateway. Resolves once it says it is running.
 */
async function jupyterServer(gatewayUrl: string): Promise<string> {
  const home = mkdtempSync(join(tmpdir(), 'pyrepl3-jupyter-server-'));
  homes.push(home);
  const port = await freePort();
  const child = execa(
    DEBIAN_PYTHON,
    [
      '-m', 'jupyter_server', '--no-browser', '--allow-root', '--ip=127.0.0.1', `--port=${port}`, '--port-retries=0',
      `--ServerApp.token=${LAB_TOKEN}`, `--ServerApp.root_dir=${home}`,
      `--gateway-url=${gatewayUrl}`, `--GatewayClient.auth_token=${TOKENS.alice}`,
    ],
    { env: toolEnv(home), extendEnv: false, reject: false },
  );
  children.push(child);
  await new Promise<void>((resolve, reject) => {
    let seen = '';
    child.stderr!.on('data', (data: Buffer) => {
      seen += data.toString();
      if (seen.includes(`http://127.0.0.1:${port}/`)) resolve();
    });
    void child.then((result) => reject(new Error(`jupyter server exited (${result.exitCode}): ${seen}`)));
  });
  return `http://127.0.0.1:${port}`;
}

describe('jupyter server --gateway-url (the JupyterLab / Notebook 7 path)', () => {
  it('runs cells of a notebook session on PyREPL3 kernels', async () => {
    const gateway = await serve();
    const lab = await jupyterServer(gateway.url);
    const { sessions } = clients(lab, LAB_TOKEN);
    const session = await sessions.startNew({ path: 'lab.ipynb', name: 'lab.ipynb', type: 'notebook', kernel: { name: 'python3' } });
    const kernel = session.kernel!;
    // The kernel is a named session of alice's on the gateway.
    expect(gateway.registry.size).toBe(1);
    const run = await runCell(kernel, 'import os\nprint("pid", os.getpid())\ndisplay({"text/markdown": "**hi**"}, raw=True)\n6 * 7');
    expect(run.reply.content).toMatchObject({ status: 'ok', execution_count: 1 });
    const printed = ofType(run, 'stream').map((m) => m.content.text).join('');
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
