import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { describe, expect, it } from 'vitest';
import { useBuiltCli } from '../server/cli.js';

const startCli = useBuiltCli();

describe('pyrepl3 serve --jupyter-url-token', () => {
  it('serves the Jupyter API under /t/<token>/api as well as /api', async () => {
    const child = startCli(['serve', '--port', '0', '--min-idle', '0', '--jupyter-url-token', '--log-level', 'warn'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const printed: Record<string, string> = {};
    for await (const line of createInterface({ input: child.stdout! })) {
      const [, key, value] = /^(listening on|token:) (\S+)$/.exec(line) ?? [];
      if (key !== undefined) printed[key] = value!;
      if (printed['listening on'] !== undefined && printed['token:'] !== undefined) break;
    }
    const url = printed['listening on']!;
    const token = printed['token:']!;
    expect((await fetch(`${url}/t/${token}/api/kernelspecs`)).status).toBe(200);
    expect((await fetch(`${url}/api/kernelspecs`, { headers: { authorization: `token ${token}` } })).status).toBe(200);
    child.kill('SIGTERM');
    const [code] = (await once(child, 'exit')) as [number | null];
    expect(code).toBe(0);
  });
});
