import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { ANCHORS_DIR } from '../paths.js';
import { nowMs } from '../stats.js';

const SCRIPT = join(ANCHORS_DIR, 'floor.py');
const END_MARK = 0x1e;

/**
 * Node's side of the floor: one bare Python process (`<python> -u floor.py`) spoken to over its
 * stdin and stdout with plain lines, no framing library.
 */
export class FloorProcess {
  readonly #child: ChildProcessByStdio<Writable, Readable, null>;
  #waiting: ((chunk: Buffer) => boolean) | null = null;
  readonly #exited: Promise<void>;

  private constructor(python: string, imports: string[]) {
    const args = ['-u', SCRIPT, ...(imports.length ? ['--import', imports.join(',')] : [])];
    this.#child = spawn(python, args, { stdio: ['pipe', 'pipe', 'inherit'] });
    this.#exited = new Promise((resolve) => this.#child.once('exit', () => resolve()));
    this.#child.stdout.on('data', (chunk: Buffer) => {
      if (this.#waiting?.(chunk)) this.#waiting = null;
    });
  }

  /** Spawns the process; resolves once it has echoed a first line. Returns the ms that took too. */
  static async start(python: string, imports: string[] = []): Promise<{ floor: FloorProcess; startMs: number }> {
    const t0 = nowMs();
    const floor = new FloorProcess(python, imports);
    await floor.echo('ping\n');
    return { floor, startMs: nowMs() - t0 };
  }

  get pid(): number {
    return this.#child.pid ?? -1;
  }

  /** Writes a line, resolves when it has come back whole. */
  echo(line: string): Promise<void> {
    const expected = Buffer.byteLength(line);
    let received = 0;
    return this.#await((chunk) => {
      received += chunk.length;
      return received >= expected;
    }, line);
  }

  /** A JSON request and reply: the code is eval'd, its repr comes back. */
  async json(id: number, code: string): Promise<string> {
    const parts: Buffer[] = [];
    await this.#await(
      (chunk) => {
        parts.push(chunk);
        return chunk[chunk.length - 1] === 0x0a;
      },
      `${JSON.stringify({ id, code })}\n`,
    );
    return (JSON.parse(Buffer.concat(parts).toString('utf8')) as { value: string }).value;
  }

  /** Runs code in the bare loop; resolves with the bytes it printed once it has finished. */
  run(code: string): Promise<number> {
    let bytes = 0;
    return this.#await(
      (chunk) => {
        bytes += chunk.length;
        return chunk.length >= 2 && chunk[chunk.length - 2] === END_MARK && chunk[chunk.length - 1] === 0x0a;
      },
      `!${JSON.stringify(code)}\n`,
    ).then(() => bytes - 2);
  }

  async close(): Promise<void> {
    this.#child.stdin.end();
    const timer = setTimeout(() => this.#child.kill('SIGKILL'), 2000);
    await this.#exited;
    clearTimeout(timer);
  }

  #await(done: (chunk: Buffer) => boolean, line: string): Promise<void> {
    return new Promise((resolve) => {
      this.#waiting = (chunk) => {
        if (!done(chunk)) return false;
        resolve();
        return true;
      };
      this.#child.stdin.write(line);
    });
  }
}
