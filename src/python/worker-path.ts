import { fileURLToPath } from 'node:url';

/** The folder that holds the worker package, pyrepl3_worker (the build copies it into dist/). */
export const WORKER_DIR = fileURLToPath(new URL('.', import.meta.url));

/**
 * The `-c` program that starts the worker. Imported as a package, the worker's bytecode is cached
 * in __pycache__; run as a script it would be compiled again at every session start (about 8 ms).
 * Its folder leaves sys.path once it is imported, so user code cannot import it by accident.
 */
export const WORKER_BOOTSTRAP = [
  'import sys',
  `sys.path.insert(0, ${JSON.stringify(WORKER_DIR)})`,
  'import pyrepl3_worker',
  'del sys.path[0]',
  'pyrepl3_worker.main()',
].join('; ');
