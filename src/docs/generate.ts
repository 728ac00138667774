import { readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { kernelQueueMachine } from '../../machines/kernel.machine.js';
import { poolMachine } from '../../machines/pool.machine.js';
import { sessionMachine } from '../../machines/session.machine.js';
import { templateMachine } from '../../machines/template.machine.js';
import { machinesMarkdown } from './mermaid.js';

/** The generated documents, by path relative to the repository root. */
export function generatedDocs(): Record<string, string> {
  return {
    'docs/machines.md': machinesMarkdown({
      session: sessionMachine,
      pool: poolMachine,
      template: templateMachine,
      kernel: kernelQueueMachine,
    }),
  };
}

/** `npm run docs`: writes every generated document (run from dist/src/docs/generate.js). */
async function main(): Promise<void> {
  const root = fileURLToPath(new URL('../../../', import.meta.url));
  for (const [path, content] of Object.entries(generatedDocs())) {
    const file = root + path;
    const before = await readFile(file, 'utf8').catch(() => null);
    if (before === content) {
      process.stdout.write(`${path}: up to date\n`);
      continue;
    }
    await writeFile(file, content);
    process.stdout.write(`${path}: written\n`);
  }
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch((error: unknown) => {
    process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(1);
  });
}
