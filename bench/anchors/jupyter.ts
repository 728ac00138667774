import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { ANCHORS_DIR } from '../paths.js';

const DRIVER = join(ANCHORS_DIR, 'jupyter_driver.py');

export interface JupyterVersions {
  ipykernel: string;
  jupyter_client: string;
  python: string;
}

/** null when `python` can import every module; otherwise why the anchor is not available. */
export async function missingModules(python: string, modules: string[]): Promise<string | null> {
  const child = spawn(python, ['-c', `import ${modules.join(', ')}`], { stdio: 'ignore' });
  const code = await new Promise<number | null>((resolve) => {
    child.once('exit', (exitCode) => resolve(exitCode));
    child.once('error', () => resolve(-1));
  });
  return code === 0 ? null : `${python} cannot import ${modules.join(' and ')} (run bench/setup-anchors.sh)`;
}

/**
 * The Jupyter anchor: a Python process (jupyter_driver.py) that starts ipykernel kernels with
 * jupyter_client and times them from the client's side. One request at a time.
 */
export class JupyterDriver {
  readonly #child: ChildProcessByStdio<Writable, Readable, null>;
  readonly #replies: AsyncIterator<string>;
  readonly #exited: Promise<void>;

  constructor(python: string) {
    // The kernels inherit this environment; the variable only quiets debugpy's frozen-modules warning.
    const env = { ...process.env, PYDEVD_DISABLE_FILE_VALIDATION: '1' };
    this.#child = spawn(python, ['-u', DRIVER], { stdio: ['pipe', 'pipe', 'inherit'], env });
    this.#exited = new Promise((resolve) => this.#child.once('exit', () => resolve()));
    this.#replies = createInterface({ input: this.#child.stdout })[Symbol.asyncIterator]();
  }

  /** Whether `python` can import ipykernel and jupyter_client; the reason when it cannot. */
  static probe(python: string): Promise<string | null> {
    return missingModules(python, ['ipykernel', 'jupyter_client']);
  }

  async versions(): Promise<JupyterVersions> {
    return this.#request<JupyterVersions>({ op: 'versions' });
  }

  /** Starts a kernel and waits until it is usable. */
  async startKernel(): Promise<{ id: string; startMs: number; pid: number | null }> {
    return this.#request({ op: 'start' });
  }

  /** Runs a cell; ms until the reply and all output arrived, bytes of stream output. */
  async execute(id: string, code: string): Promise<{ ms: number; bytes: number; status: string }> {
    return this.#request({ op: 'exec', id, code });
  }

  async stopKernel(id: string): Promise<void> {
    await this.#request({ op: 'stop', id });
  }

  /** Ends the driver, which shuts down every kernel it still has. */
  async close(): Promise<void> {
    this.#child.stdin.end();
    const timer = setTimeout(() => this.#child.kill('SIGKILL'), 15_000);
    await this.#exited;
    clearTimeout(timer);
  }

  async #request<T>(request: Record<string, unknown>): Promise<T> {
    this.#child.stdin.write(`${JSON.stringify(request)}\n`);
    const next = await this.#replies.next();
    if (next.done === true) throw new Error('the Jupyter driver exited');
    const reply = JSON.parse(next.value) as T & { error?: string };
    if (reply.error !== undefined) throw new Error(`Jupyter driver: ${reply.error}`);
    return reply;
  }
}
