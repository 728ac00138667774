import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { CLI, useBuiltCli } from '../server/cli.js';

useBuiltCli();

describe('pyrepl3 exec --sandbox', () => {
  it('runs the code in a sandbox', () => {
    const out = execFileSync(process.execPath, [CLI, 'exec', '--sandbox', 'import os\nprint(os.getuid() != 0, os.getpid(), os.getcwd())'], {
      encoding: 'utf8',
    });
    expect(out).toBe('True 2 /session/work\n');
  });
});

describe('pyrepl3 doctor', () => {
  it('says what this host offers and what sandbox: true will do, and exits 0 where it can build the sandbox', () => {
    const text = execFileSync(process.execPath, [CLI, 'doctor'], { encoding: 'utf8' });
    expect(text).toMatch(/namespaces: user yes, pid yes, net yes, mount yes, ipc yes, uts yes/);
    expect(text).toMatch(/cgroups this process can make for sessions: memory, pids, cpu/);
    expect(text).toMatch(/bubblewrap: \/\S*bwrap/);
    expect(text).toMatch(/sandbox: true will run each session/);
  });

  it('--json gives the same report as data, and exits 1 with the missing pieces where bubblewrap is not on PATH', () => {
    let status = 0;
    let stdout = '';
    try {
      execFileSync(process.execPath, [CLI, 'doctor', '--json'], { encoding: 'utf8', env: { ...process.env, PATH: '/nonexistent' } });
    } catch (error) {
      ({ status, stdout } = error as { status: number; stdout: string });
    }
    expect(status).toBe(1);
    const report = JSON.parse(stdout) as { bwrap: string | null; missing: string[]; cgroupControllers: string[] };
    expect(report.bwrap).toBeNull();
    expect(report.missing).toEqual(['bubblewrap (bwrap)']);
    expect(report.cgroupControllers).toEqual(['memory', 'pids', 'cpu']);
  });
});
