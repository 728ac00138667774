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

const described = new Map<string, Promise<string[]>>();

/**
 * The folders an interpreter needs (its prefixes, site-packages, the folder of its executable),
 * for a sandbox to bind read-only. Asked once per executable; the same run byte-compiles
 * `workerDir`, which sandboxed sessions can only read.
 */
export function interpreterFolders(executable: string, workerDir: string): Promise<string[]> {
  let folders = described.get(executable);
  if (folders === undefined) {
    folders = askForFolders(executable, workerDir);
    described.set(executable, folders);
    folders.catch(() => described.delete(executable));
  }
  return folders;
}

const FOLDERS_PROGRAM = `
import compileall, json, os, site, sys
compileall.compile_dir(sys.argv[1], quiet=2)
folders = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
           os.path.dirname(os.path.realpath(sys.executable)), os.path.dirname(sys.executable)}
folders.update(getattr(site, "getsitepackages", lambda: [])())
print(json.dumps(sorted(folders)))
`;

async function askForFolders(executable: string, workerDir: string): Promise<string[]> {
  const probe = await execa(executable, ['-c', FOLDERS_PROGRAM, workerDir], { reject: false, timeout: 30_000 });
  if (probe.failed)
    throw new Error(`Python interpreter '${executable}' could not describe itself: ${String(probe.stderr ?? probe.shortMessage)}`);
  return JSON.parse(probe.stdout) as string[];
}
