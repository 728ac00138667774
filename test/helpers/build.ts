import { execFileSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';

export const ROOT = resolve(import.meta.dirname, '../..');
const BUILT = join(ROOT, 'dist/src/index.js');

function newestIn(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestIn(path) : statSync(path).mtimeMs);
  }
  return newest;
}

function builtAt(): number {
  try {
    return statSync(BUILT).mtimeMs;
  } catch {
    return 0;
  }
}

/**
 * For tests that run the built package (dist/) in another process, which cannot load TypeScript:
 * builds it when it is missing or older than its sources, so that a test run on its own never
 * checks yesterday's build (`npm test` builds first anyway).
 */
export function ensureBuilt(): void {
  const sources = Math.max(newestIn(join(ROOT, 'src')), newestIn(join(ROOT, 'machines')));
  if (builtAt() < sources) execFileSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'ignore' });
}
