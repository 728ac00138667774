import { execa } from 'execa';

const resolved = new Map<string, Promise<string>>();

/**
 * The real executable behind a Python command, resolved once per command.
 * `python3` on PATH may be a shim (pyenv's costs 0.29 s a start against 0.06 s for the real
 * executable), and every session start would pay for it.
 */
export function resolveInterpreter(pythonPath: string): Promise<string> {
  let executable = resolved.get(pythonPath);
  if (executable === undefined) {
    executable = askForExecutable(pythonPath);
    resolved.set(pythonPath, executable);
    // A failure is not cached: the interpreter may be installed later.
    executable.catch(() => resolved.delete(pythonPath));
  }
  return executable;
}

async function askForExecutable(pythonPath: string): Promise<string> {
  const probe = await execa(pythonPath, ['-c', 'import sys; print(sys.executable)'], { reject: false, timeout: 30_000 });
  if (probe.failed) {
    const why = probe.code === 'ENOENT' ? 'not found' : (String(probe.stderr ?? '') || (probe.shortMessage ?? 'unknown error')).trim();
    throw new Error(`Python interpreter '${pythonPath}' cannot be started: ${why}`);
  }
  return probe.stdout.trim() || pythonPath;
}
