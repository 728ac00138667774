import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, useBuiltCli } from '../server/cli.js';
import { SPAWN_MODES } from '../helpers/pool.js';

useBuiltCli();

/** The host process runs as nobody: sessions get a user namespace, and no cgroups can be made. */
function runAsNobody(mode: string): { seen: string; denied: string; name: string; warnings: string[][] } {
  const script = join(ROOT, 'test/fixtures/unprivileged-host.mjs');
  const out = execFileSync('setpriv', ['--reuid', '65534', '--regid', '65534', '--clear-groups', process.execPath, script, mode], {
    encoding: 'utf8',
    cwd: '/',
  });
  return JSON.parse(out) as { seen: string; denied: string; name: string; warnings: string[][] };
}

describe.each(SPAWN_MODES)('a sandboxed pool on a host that is not root, spawn %s', (mode) => {
  it('runs sessions as the host user in namespaces of their own, with the seccomp filter, and warns that cgroups are missing', () => {
    const { seen, denied, name, warnings } = runAsNobody(mode);
    expect(seen).toBe("(65534, 2, '/session/work', '2', [])");
    expect(denied).toBe('(-1, 1)');
    expect(name).toBe(mode === 'fork' ? 'pyrepl3-session' : 'python3');
    expect(warnings).toEqual([['memory', 'pids', 'cpu']]);
  });
});
