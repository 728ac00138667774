import { fileURLToPath } from 'node:url';

/** The worker script, shipped beside this module (the build copies it into dist/). */
export const WORKER_PATH = fileURLToPath(new URL('./worker.py', import.meta.url));
