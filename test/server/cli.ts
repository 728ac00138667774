import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll } from 'vitest';

import { ensureBuilt, ROOT } from '../helpers/build.js';

export { ROOT };
export const CLI = join(ROOT, 'dist/src/cli/main.js');

/**
 * For a test file that runs the built CLI: builds it first when the build is missing or stale
 * (`npm test` builds anyway), and kills whatever CLI process a test left running.
 */
export function useBuiltCli(): (args: string[], options?: SpawnOptions) => ChildProcess {
  const started: ChildProcess[] = [];
  beforeAll(() => {
    ensureBuilt();
  }, 120_000);
  afterAll(() => {
    for (const child of started) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  return (args, options = {}) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: ROOT, ...options });
    started.push(child);
    return child;
  };
}

export interface ServingCli {
  url: string;
  poolId: string;
  process: ChildProcess;
  exited: Promise<number | null>;
  /** What it has written to stderr (its logs) so far. */
  stderr(): string;
  /** What it has written to stdout so far. */
  stdout(): string;
}

/** Starts `pyrepl3 serve --port 0 ...args` with a spawner from useBuiltCli; resolves once it listens. */
export function serveCli(start: ReturnType<typeof useBuiltCli>): (args: string[], options?: SpawnOptions) => Promise<ServingCli> {
  return (args, options = {}) => {
    const proc = start(['serve', '--port', '0', ...args], { stdio: ['ignore', 'pipe', 'pipe'], ...options });
    let stderr = '';
    let stdout = '';
    proc.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolveExit) => proc.once('exit', (code) => resolveExit(code)));
    return new Promise((resolveStart, reject) => {
      let url: string | null = null;
      const lines = createInterface({ input: proc.stdout! });
      lines.on('line', (line) => {
        stdout += `${line}\n`;
        const listening = /^listening on (http:\/\/\S+)$/.exec(line);
        if (listening) url = listening[1]!;
        const pool = /^pool: (pool-[0-9a-f-]+)$/.exec(line);
        if (pool && url !== null)
          resolveStart({ url, poolId: pool[1]!, process: proc, exited, stderr: () => stderr, stdout: () => stdout });
      });
      void exited.then((code) => reject(new Error(`serve exited early with ${code}: ${stderr}`)));
    });
  };
}

/** A tokens file for `serve --tokens`, in a folder of its own. */
export function tokensFile(
  entries: Array<{ token: string; tenant: string; admin?: boolean; maxSessions?: number; maxConcurrent?: number }>,
): string {
  const file = join(mkdtempSync(join(tmpdir(), 'pyrepl3-tokens-')), 'tokens.json');
  writeFileSync(file, JSON.stringify(entries));
  return file;
}
