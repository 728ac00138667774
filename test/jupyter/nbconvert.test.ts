import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterEach, describe, expect, it } from 'vitest';
import { serve, TOKENS } from '../server/helpers.js';
import { DEBIAN_PYTHON, notebook, toolEnv } from './helpers.js';

const homes: string[] = [];
afterEach(() => {
  for (const home of homes.splice(0)) rmSync(home, { recursive: true, force: true });
});

interface Cell {
  cell_type: string;
  outputs?: {
    output_type: string;
    name?: string;
    text?: string | string[];
    data?: Record<string, unknown>;
    ename?: string;
    evalue?: string;
  }[];
}

/**
 * `jupyter nbconvert --execute` with nbclient driving the kernel through jupyter_server's
 * GatewayKernelManager, configured as its docs say, by JUPYTER_GATEWAY_URL. Its WebSocket carries
 * no credential, hence the /t/<token> mount. The cell timeout is 10 minutes: a run that waited
 * for it would fail the test by the test's own timeout.
 */
async function nbconvert(baseUrl: string, name: string, ...flags: string[]) {
  const home = mkdtempSync(join(tmpdir(), 'pyrepl3-nbconvert-'));
  homes.push(home);
  const result = await execa(
    DEBIAN_PYTHON,
    [
      '-m',
      'nbconvert',
      '--to',
      'notebook',
      '--execute',
      '--output-dir',
      home,
      '--ExecutePreprocessor.kernel_manager_class=jupyter_server.gateway.managers.GatewayKernelManager',
      '--ExecutePreprocessor.timeout=600',
      ...flags,
      notebook(name),
    ],
    { env: toolEnv(home, { JUPYTER_GATEWAY_URL: `${baseUrl}/t/${TOKENS.alice}` }), extendEnv: false, reject: false, cwd: home },
  );
  const output = join(home, name);
  const cells = result.exitCode === 0 ? (JSON.parse(readFileSync(output, 'utf8')) as { cells: Cell[] }).cells.map(joinTexts) : [];
  return { exitCode: result.exitCode, stderr: result.stderr, cells };
}

/** nbformat stores multi-line text (streams, mime data) as a list of lines: join them. */
function joinTexts(cell: Cell): Cell {
  const join = (value: unknown): unknown => (Array.isArray(value) ? value.join('') : value);
  const outputs = cell.outputs?.map((o) => ({
    ...o,
    ...(o.text !== undefined ? { text: join(o.text) as string } : {}),
    ...(o.data !== undefined ? { data: Object.fromEntries(Object.entries(o.data).map(([mime, value]) => [mime, join(value)])) } : {}),
  }));
  return outputs === undefined ? cell : { ...cell, outputs };
}

/** nbconvert failed the run on a cell, saying each of `texts`. */
function expectCellExecutionError(run: { exitCode: number | undefined; stderr: string }, ...texts: string[]): void {
  expect(run.exitCode).toBe(1);
  for (const text of ['CellExecutionError', ...texts]) expect(run.stderr).toContain(text);
}

describe('nbconvert/nbclient through GatewayKernelManager', () => {
  // `pyrepl3 serve` sandboxes its sessions by default: the notebook runs both ways.
  it.each([false, true])(
    'executes a real notebook: streams, results, rich display and a matplotlib figure (sandbox %s)',
    async (sandbox) => {
      const server = await serve({ jupyterUrlToken: true, poolOptions: { pythonPath: DEBIAN_PYTHON, sandbox } });
      const run = await nbconvert(server.url, 'plot.ipynb');
      expect(run.stderr).not.toContain('Traceback');
      expect(run.exitCode).toBe(0);
      const code = run.cells.filter((c) => c.cell_type === 'code');
      expect(code[0]!.outputs).toEqual([
        { output_type: 'stream', name: 'stdout', text: 'hello from cpython\n' },
        { output_type: 'stream', name: 'stderr', text: 'to stderr\n' },
      ]);
      expect(code[1]!.outputs![0]).toMatchObject({ output_type: 'execute_result', data: { 'text/plain': '42' } });
      expect(code[2]!.outputs![0]).toMatchObject({ output_type: 'display_data', data: { 'text/html': '<b>card</b>' } });
      const figure = code[3]!.outputs!.find((o) => o.output_type === 'display_data');
      expect(String(figure?.data?.['image/png'])).toMatch(/^iVBORw0KGgo/);
      expect(code[4]!.outputs![0]).toMatchObject({ data: { 'text/plain': '43' } });
      // nbconvert deleted its kernel: nothing of alice's is left.
      expect(server.registry.size).toBe(0);
      // The pool's sessions run as root only unsandboxed (the sandbox gives each an unprivileged uid).
      const pid = server.pool.snapshot().sessions.find((s) => s.pid !== null)!.pid!;
      expect(/^Uid:\s+0\s/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'))).toBe(!sandbox);
    },
  );

  it('fails on a Python error, and keeps the error with --allow-errors', async () => {
    const server = await serve({ jupyterUrlToken: true });
    expectCellExecutionError(await nbconvert(server.url, 'error.ipynb'), 'ZeroDivisionError');
    const allowed = await nbconvert(server.url, 'error.ipynb', '--allow-errors');
    expect(allowed.exitCode).toBe(0);
    expect(allowed.cells[1]!.outputs![0]).toMatchObject({ output_type: 'error', ename: 'ZeroDivisionError' });
    expect(allowed.cells[2]!.outputs![0]).toMatchObject({ text: 'after the error\n' });
  });

  it('a cell that kills its process fails the run at once with the death, not at the cell timeout', async () => {
    const server = await serve({ jupyterUrlToken: true });
    expectCellExecutionError(await nbconvert(server.url, 'die.ipynb'), 'SessionDiedError', 'exited with code 3');
  });
});
