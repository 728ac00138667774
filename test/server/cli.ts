import { execFileSync, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll } from 'vitest';

export const ROOT = resolve(import.meta.dirname, '../..');
export const CLI = join(ROOT, 'dist/src/cli/main.js');

/**
 * For a test file that runs the built CLI: builds it first when the file runs on its own against a
 * fresh checkout (`npm test` builds anyway), and kills whatever CLI process a test left running.
 */
export function useBuiltCli(): (args: string[], options?: SpawnOptions) => ChildProcess {
  const started: ChildProcess[] = [];
  beforeAll(() => {
    if (!existsSync(CLI)) execFileSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'ignore' });
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
