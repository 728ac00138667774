import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root, found from this file whether it runs from bench/ (tsx) or dist/bench/. */
function findRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error('package.json not found above the bench directory');
    dir = parent;
  }
  return dir;
}

export const ROOT = findRoot();
/** The Python anchors are not compiled: they are read from the source tree. */
export const ANCHORS_DIR = join(ROOT, 'bench', 'anchors');
export const DOCS_DIR = join(ROOT, 'docs');
