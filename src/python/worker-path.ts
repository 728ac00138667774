import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The worker script, shipped beside this module (the build copies it into dist/). */
const WORKER_PATH = fileURLToPath(new URL('./worker.py', import.meta.url));

/**
 * The `-c` program that starts the worker. Imported as a module, the worker's bytecode is cached in
 * __pycache__; run as a script it would be compiled again at every session start (about 8 ms).
 * Its folder leaves sys.path once it is imported, so user code cannot import it by accident.
 */
export const WORKER_BOOTSTRAP = [
  'import sys',
  `sys.path.insert(0, ${JSON.stringify(dirname(WORKER_PATH))})`,
  'import worker',
  'del sys.path[0]',
  'worker.main()',
].join('; ');
