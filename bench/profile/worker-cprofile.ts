/**
 * cProfile of the worker's side of `1+1`: drives src/python/pyrepl3_worker over its fd-3 channel, as
 * the pool does, under bench/profile/worker_cprofile.py, then prints the top of the profile.
 *   node dist/bench/profile/worker-cprofile.js [executions] [python]
 */
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from '../paths.js';
import { nowMs } from '../stats.js';

const executions = Number(process.argv[2] ?? 5000);
const python = process.argv[3] ?? 'python3';
const dir = mkdtempSync(join(tmpdir(), 'pyrepl3-cprofile-'));
const out = join(dir, 'worker.prof');
const worker = join(ROOT, 'src', 'python');
const child = spawn(
  python,
  ['-u', join(ROOT, 'bench', 'profile', 'worker_cprofile.py'), out, worker, JSON.stringify({ pool: 'cprofile', limits: {}, cwd: dir })],
  {
    stdio: ['ignore', 'ignore', 'inherit', 'pipe'],
    cwd: dir,
  },
);
const channel = child.stdio[3] as Socket;
channel.setEncoding('utf8');
let buffered = '';
let waiting: ((line: string) => void) | null = null;
channel.on('data', (text: string) => {
  buffered += text;
  for (let newline = buffered.indexOf('\n'); newline >= 0; newline = buffered.indexOf('\n')) {
    const line = buffered.slice(0, newline);
    buffered = buffered.slice(newline + 1);
    const frame = JSON.parse(line) as { op: string };
    if (frame.op !== 'ready') waiting?.(line);
  }
});
const request = (id: number): Promise<string> =>
  new Promise((resolve) => {
    waiting = resolve;
    channel.write(`${JSON.stringify({ op: 'exec', id, code: '1+1', silent: false })}\n`);
  });

async function main(): Promise<void> {
  const t0 = nowMs();
  for (let id = 1; id <= executions; id++) await request(id);
  const us = ((nowMs() - t0) * 1000) / executions;
  channel.write('{"op":"exit"}\n');
  await new Promise((resolve) => child.once('exit', resolve));
  process.stdout.write(`${executions} x 1+1 over fd 3 under cProfile: ${us.toFixed(1)} µs each (profiling inflates this)\n`);
  process.stdout.write(
    execFileSync(python, ['-c', `import pstats; pstats.Stats(${JSON.stringify(out)}).sort_stats('tottime').print_stats(22)`], {
      encoding: 'utf8',
    }),
  );
}

void main();
