import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { afterEach, describe, expect, it } from 'vitest';
import { serve, TOKENS } from '../server/helpers.js';
import { DEBIAN_PYTHON, toolEnv } from './helpers.js';

const here = dirname(fileURLToPath(import.meta.url));
const homes: string[] = [];
afterEach(() => {
  for (const home of homes.splice(0)) rmSync(home, { recursive: true, force: true });
});

/** Every test of jupyter_kernel_test that the samples in kerneltest_gateway.py switch on. */
const PASSING = [
  'test_kernel_info',
  'test_execute_stdout',
  'test_execute_stderr',
  'test_error',
  'test_execute_result',
  'test_completion',
  'test_is_complete',
  'test_inspect',
  'test_display_data',
  'test_clear_output',
];

/** What the suite skips: the pager (no pager here) and history search (tail and range are served). */
const SKIPPED = [
  "test_history (kerneltest_gateway.GatewayKernelTests.test_history) (hist_access_type='search')",
  'test_pager (kerneltest_gateway.GatewayKernelTests.test_pager)',
];

describe("Jupyter's kernel conformance suite (jupyter_kernel_test) through a gateway kernel manager", () => {
  it('passes in full', async () => {
    const server = await serve({ jupyterUrlToken: true });
    const home = mkdtempSync(join(tmpdir(), 'pyrepl3-kerneltest-'));
    homes.push(home);
    const run = await execa(DEBIAN_PYTHON, ['-m', 'unittest', '-v', 'kerneltest_gateway'], {
      cwd: here,
      env: toolEnv(home, { JUPYTER_GATEWAY_URL: `${server.url}/t/${TOKENS.alice}`, PYTHONDONTWRITEBYTECODE: '1' }),
      extendEnv: false,
      reject: false,
    });
    // unittest reports on stderr: one "name (...) ... ok" line per test, then OK or FAILED.
    for (const test of PASSING) expect(run.stderr).toMatch(new RegExp(`^${test} \\(.*\\) \\.\\.\\. ok$`, 'm'));
    const skipped = [...run.stderr.matchAll(/^\s*(.*) \.\.\. skipped/gm)].map((m) => m[1]);
    expect(skipped.sort()).toEqual(SKIPPED);
    expect(run.stderr).not.toMatch(/FAIL|ERROR/);
    expect(run.stderr).toMatch(/^Ran 12 tests/m);
    expect(run.exitCode).toBe(0);
  });
});
