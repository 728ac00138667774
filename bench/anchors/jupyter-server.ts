import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { missingModules } from './jupyter.js';

/**
 * `jupyter server` on 127.0.0.1, started and stopped by pid: the benchmarks' Jupyter Server +
 * ipykernel anchor, and (with --gateway-url) the server JupyterLab runs, for the tests.
 */
export class JupyterServerAnchor {
  private constructor(
    readonly url: string,
    readonly token: string,
    readonly child: ChildProcess,
    private readonly home: string,
  ) {}

  /** Whether `python` can run Jupyter Server with ipykernel; the reason when it cannot. */
  static probe(python: string): Promise<string | null> {
    return missingModules(python, ['jupyter_server', 'ipykernel']);
  }

  /** Resolves once the server says where it listens. */
  static async start(python: string, extraArgs: string[] = []): Promise<JupyterServerAnchor> {
    const home = mkdtempSync(join(tmpdir(), 'pyrepl3-bench-jupyter-'));
    const port = await freePort();
    const token = 'bench-jupyter-token-0123456789';
    // Its own home: no configuration of this machine's user reaches it, and it writes nothing there.
    const env = {
      PATH: '/usr/bin:/bin',
      HOME: home,
      LANG: 'C.UTF-8',
      JUPYTER_CONFIG_DIR: join(home, 'config'),
      JUPYTER_DATA_DIR: join(home, 'data'),
      JUPYTER_RUNTIME_DIR: join(home, 'runtime'),
      PYDEVD_DISABLE_FILE_VALIDATION: '1',
    };
    const args = [
      '-m',
      'jupyter_server',
      '--no-browser',
      '--allow-root',
      '--ip=127.0.0.1',
      `--port=${port}`,
      '--port-retries=0',
      `--ServerApp.token=${token}`,
      `--ServerApp.root_dir=${home}`,
      ...extraArgs,
    ];
    const child = spawn(python, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
    const url = `http://127.0.0.1:${port}`;
    await new Promise<void>((resolve, reject) => {
      let seen = '';
      child.stderr!.on('data', (data: Buffer) => {
        seen += data.toString();
        if (seen.includes(`${url}/`)) resolve();
      });
      child.once('exit', (code) => reject(new Error(`jupyter server exited with ${code}: ${seen.slice(-500)}`)));
    });
    return new JupyterServerAnchor(url, token, child, home);
  }

  /** SIGTERM, and wait until the process is gone (it shuts its kernels down first). */
  async close(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      const exited = new Promise((resolve) => this.child.once('exit', resolve));
      this.child.kill('SIGTERM');
      await exited;
    }
    rmSync(this.home, { recursive: true, force: true });
  }
}

async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const address = probe.address();
  await new Promise((resolve) => probe.close(resolve));
  if (address === null || typeof address === 'string') throw new Error('no free port');
  return address.port;
}
