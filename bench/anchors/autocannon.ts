import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const require = createRequire(import.meta.url);
const CLI = join(dirname(require.resolve('autocannon/package.json')), 'autocannon.js');

export interface LoadResult {
  requestsPerSecond: number;
  p99Ms: number;
  medianMs: number;
  requests: number;
  non2xx: number;
  errors: number;
}

/**
 * autocannon as a child process (so that it does not share the server's event loop), bounded in
 * time. Only loopback URLs are accepted.
 */
export async function autocannon(options: {
  url: string;
  connections: number;
  seconds: number;
  body: string;
  headers: Record<string, string>;
}): Promise<LoadResult> {
  const url = new URL(options.url);
  if (url.hostname !== '127.0.0.1') throw new Error(`refusing to load ${url.hostname}: the suite stays on 127.0.0.1`);
  const args = [CLI, '-c', String(options.connections), '-d', String(options.seconds), '-m', 'POST', '-b', options.body, '--json'];
  for (const [name, value] of Object.entries({ 'content-type': 'application/json', ...options.headers }))
    args.push('-H', `${name}=${value}`);
  args.push(options.url);
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'ignore'] });
  let out = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (text: string) => (out += text));
  const timer = setTimeout(() => child.kill('SIGKILL'), (options.seconds + 30) * 1000);
  // 'close', not 'exit': only then has all of its stdout been read.
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
  clearTimeout(timer);
  if (code !== 0) throw new Error(`autocannon exited with ${String(code)}`);
  const result = JSON.parse(out) as {
    requests: { average: number; total: number };
    latency: { p99: number; p50: number };
    non2xx: number;
    errors: number;
    duration: number;
  };
  return {
    requestsPerSecond: result.requests.total / result.duration,
    p99Ms: result.latency.p99,
    medianMs: result.latency.p50,
    requests: result.requests.total,
    non2xx: result.non2xx,
    errors: result.errors,
  };
}
