import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { processesMentioning } from '../helpers/os.js';
import { call, StreamClient, until, wsUrl } from './helpers.js';
import { CLI, serveCli, useBuiltCli } from './cli.js';

const TOKEN = 'sigterm-test-token-0123';
const startCliProcess = useBuiltCli();
const startCli = serveCli(startCliProcess);

describe('pyrepl3 serve under SIGTERM', () => {
  it('finishes running executions within the grace period, interrupts the rest, exits 0 with no Python process left', {
    timeout: 30_000,
  }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pyrepl3-sigterm-'));
    const tokensFile = join(dir, 'tokens.json');
    writeFileSync(tokensFile, JSON.stringify([{ token: TOKEN, tenant: 'ops', maxSessions: 4 }]));
    const server = await startCli([
      '--tokens',
      tokensFile,
      '--min-idle',
      '1',
      '--max-sessions',
      '4',
      '--grace-ms',
      '1500',
      '--log-level',
      'warn',
    ]);
    const { url, poolId } = server;
    expect(processesMentioning(poolId).length).toBeGreaterThan(0);

    const quick: string = (await call(url, 'POST', '/v1/sessions', TOKEN)).body.id;
    const stuck: string = (await call(url, 'POST', '/v1/sessions', TOKEN)).body.id;
    const a = await StreamClient.open(wsUrl(url, `/v1/sessions/${quick}/stream`), TOKEN);
    const b = await StreamClient.open(wsUrl(url, `/v1/sessions/${stuck}/stream`), TOKEN);
    a.send({ type: 'execute', id: 'quick', code: 'import time\nprint("started", flush=True)\ntime.sleep(0.5)\n"finished"' });
    b.send({ type: 'execute', id: 'stuck', code: 'import time\nprint("started", flush=True)\nwhile True: time.sleep(0.01)' });
    const oneShot = call(url, 'POST', '/v1/execute', TOKEN, { code: 'import time\ntime.sleep(0.5)\n"one-shot"' });
    await a.next((m) => m.type === 'output');
    await b.next((m) => m.type === 'output');
    // Three sessions leased: two named ones and the one-shot's.
    await until(async () => /pyrepl3_pool_sessions\{state="busy"\} 3/.test((await call(url, 'GET', '/metrics', null)).body));

    server.process.kill('SIGTERM');

    // Refuses new work once it has seen the signal.
    await until(async () => {
      try {
        return (await fetch(`${url}/readyz`)).status === 503;
      } catch {
        return true;
      }
    });
    // Either answer refuses: a 503, or no connection at all once the listener has closed.
    const late = await call(url, 'POST', '/v1/sessions', TOKEN).then(
      (reply) => reply.status,
      () => 'connection refused',
    );
    expect([503, 'connection refused']).toContain(late);

    const quickResult = await a.next((m) => m.type === 'result');
    expect(quickResult.result).toMatchObject({ status: 'ok', value: "'finished'" });
    expect((await oneShot).body).toMatchObject({ status: 'ok', value: "'one-shot'" });
    const stuckResult = await b.next((m) => m.type === 'result');
    expect(stuckResult.result.status).toBe('interrupted');

    expect(await server.exited).toBe(0);
    expect(processesMentioning(poolId)).toEqual([]);
  });

  it('prints a random token when no tokens file is given, and SIGINT also exits 0', { timeout: 20_000 }, async () => {
    const proc = startCliProcess(['serve', '--port', '0', '--min-idle', '1', '--max-sessions', '2'], {
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
    const seen: Record<string, string> = {};
    await new Promise<void>((done) => {
      createInterface({ input: proc.stdout! }).on('line', (line) => {
        const m = /^(listening on|pool:|token:) (\S+)$/.exec(line);
        if (m) seen[m[1]!] = m[2]!;
        if (seen['token:'] !== undefined && seen['listening on'] !== undefined && seen['pool:'] !== undefined) done();
      });
    });
    const url = seen['listening on']!;
    const token = seen['token:']!;
    expect(token.length).toBeGreaterThanOrEqual(40);
    expect((await call(url, 'GET', '/v1/sessions', token)).status).toBe(200);
    expect((await call(url, 'GET', '/v1/sessions', 'not-the-token-123')).status).toBe(401);
    expect((await call(url, 'POST', '/v1/execute', token, { code: '2 ** 10' })).body.value).toBe('1024');
    proc.kill('SIGINT');
    expect(await exited).toBe(0);
    expect(processesMentioning(seen['pool:']!)).toEqual([]);
  });
});

describe('pyrepl3 exec', () => {
  it('prints the output and exits 0; exits 1 on a Python error', () => {
    const ok = execFileSync(process.execPath, [CLI, 'exec', 'print(1+1)'], { encoding: 'utf8' });
    expect(ok).toBe('2\n');
    let status: number | null = null;
    let stderr = '';
    try {
      execFileSync(process.execPath, [CLI, 'exec', 'print("before")\n1/0'], { encoding: 'utf8', stdio: 'pipe' });
    } catch (error) {
      const e = error as { status: number; stderr: string; stdout: string };
      status = e.status;
      stderr = e.stderr;
      expect(e.stdout).toBe('before\n');
    }
    expect(status).toBe(1);
    expect(stderr).toContain('ZeroDivisionError');
  });
});
