import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { ANCHORS_DIR } from '../paths.js';

const SCRIPT = join(ANCHORS_DIR, 'fork_floor.py');

/** One fork of the floor process, timed by the forking Python process itself (ms). */
export interface ForkSample {
  /** fork() until the child's answer to a ping is read back. */
  ms: number;
  /** fork() until the child is reaped. */
  reapMs: number;
  /** fork() until the child runs its first instruction. */
  childMs: number;
}

/**
 * Node's side of the fork floor: a long-lived `<python> -u fork_floor.py` that has imported the
 * same modules as a pool's warmupCode (or run the same warmup) and forks a child per request,
 * timing fork -> ping answered on its own clock, so that no host overhead is in the figure.
 */
export class ForkFloor {
  readonly #child: ChildProcessByStdio<Writable, Readable, null>;
  readonly #exited: Promise<void>;
  #buffer = '';
  #waiting: ((line: string) => void) | null = null;

  private constructor(python: string, args: string[]) {
    this.#child = spawn(python, ['-u', SCRIPT, ...args], { stdio: ['pipe', 'pipe', 'inherit'] });
    this.#exited = new Promise((resolve) => this.#child.once('exit', () => resolve()));
    this.#child.stdout.setEncoding('utf8');
    this.#child.stdout.on('data', (text: string) => {
      this.#buffer += text;
      for (let newline = this.#buffer.indexOf('\n'); newline !== -1; newline = this.#buffer.indexOf('\n')) {
        const line = this.#buffer.slice(0, newline);
        this.#buffer = this.#buffer.slice(newline + 1);
        const waiting = this.#waiting;
        this.#waiting = null;
        waiting?.(line);
      }
    });
  }

  /** Starts the process with `--import` modules and/or `--warmup` code; resolves once it is ready. */
  static async start(python: string, setup: { imports?: readonly string[]; warmupCode?: string }): Promise<ForkFloor> {
    const args = [
      ...(setup.imports?.length ? ['--import', setup.imports.join(',')] : []),
      ...(setup.warmupCode !== undefined ? ['--warmup', setup.warmupCode] : []),
    ];
    const floor = new ForkFloor(python, args);
    const first = await floor.#request(null);
    if (first !== 'ready') throw new Error(`fork floor did not start: ${first}`);
    return floor;
  }

  get pid(): number {
    return this.#child.pid ?? -1;
  }

  /** One fork, ping and reap. */
  async sample(): Promise<ForkSample> {
    return JSON.parse(await this.#request('fork\n')) as ForkSample;
  }

  async close(): Promise<void> {
    this.#child.stdin.end();
    const timer = setTimeout(() => this.#child.kill('SIGKILL'), 2000);
    await this.#exited;
    clearTimeout(timer);
  }

  #request(line: string | null): Promise<string> {
    return new Promise((resolve, reject) => {
      const onExit = (): void => reject(new Error('fork floor exited'));
      this.#child.once('exit', onExit);
      this.#waiting = (reply) => {
        this.#child.off('exit', onExit);
        resolve(reply);
      };
      if (line !== null) this.#child.stdin.write(line);
    });
  }
}
