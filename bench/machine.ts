import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus, release, totalmem, type as osType } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ROOT } from './paths.js';

const run = promisify(execFile);

export interface MachineInfo {
  date: string;
  os: string;
  cpu: string;
  cores: number;
  memoryGiB: number;
  node: string;
  pythons: Record<string, string>;
  packages: Record<string, string>;
  commit: string | null;
}

function packageVersion(name: string): string {
  try {
    const file = name === 'pyrepl3' ? join(ROOT, 'package.json') : join(ROOT, 'node_modules', name, 'package.json');
    return (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version;
  } catch {
    return 'not installed';
  }
}

/** The real executable and version behind a Python command (a pyenv shim is resolved). */
export async function describePython(command: string): Promise<{ executable: string; version: string } | null> {
  try {
    const { stdout } = await run(command, ['-c', 'import sys; print(sys.executable); print(sys.version.split()[0])']);
    const [executable, version] = stdout.trim().split('\n');
    return executable && version ? { executable, version } : null;
  } catch {
    return null;
  }
}

async function gitCommit(): Promise<string | null> {
  try {
    const { stdout } = await run('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT });
    return stdout.trim();
  } catch {
    return null;
  }
}

export async function machineInfo(pythons: Record<string, string>, extraPackages: Record<string, string>): Promise<MachineInfo> {
  const cpuList = cpus();
  return {
    date: new Date().toISOString(),
    os: `${osType()} ${release()}`,
    cpu: cpuList[0]?.model ?? 'unknown',
    cores: cpuList.length,
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    pythons,
    packages: {
      ...Object.fromEntries(
        ['pyrepl3', 'xstate', 'generic-pool', 'tarn', 'autocannon', 'fastify'].map((name) => [name, packageVersion(name)]),
      ),
      ...extraPackages,
    },
    commit: await gitCommit(),
  };
}
