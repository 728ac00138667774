import { fileURLToPath } from 'node:url';

/** The folder that holds the worker package, pyrepl3_worker (the build copies it into dist/). */
export const WORKER_DIR = fileURLToPath(new URL('.', import.meta.url));

/** Where a sandboxed session sees the worker's folder: a fixed place, whatever the host's checkout is called. */
export const SANDBOX_WORKER_DIR = '/run/pyrepl3';

/**
 * The `-c` program that starts the worker from `dir`. Imported as a package, the worker's bytecode is cached
 * in __pycache__; run as a script it would be compiled again at every session start (about 8 ms).
 * Its folder leaves sys.path once it is imported, so user code cannot import it by accident.
 */
export function workerBootstrap(dir = WORKER_DIR): string {
  return [
    'import sys',
    `sys.path.insert(0, ${JSON.stringify(dir)})`,
    'import pyrepl3_worker',
    'del sys.path[0]',
    'pyrepl3_worker.main()',
  ].join('; ');
}
