/**
 * `npm run bench [-- --quick] [-- --only 2,start] [-- --out DIR]`: measures PyREPL3 beside its anchors
 * and writes docs/benchmarks.md and docs/benchmarks.json (a --quick run writes to a temp dir).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { JupyterDriver } from './anchors/jupyter.js';
import { describePython, machineInfo } from './machine.js';
import type { Row, RowResult, RunContext } from './model.js';
import { DOCS_DIR } from './paths.js';
import { writeReport } from './report.js';
import { nowMs } from './stats.js';
import { clusterRow } from './rows/cluster.js';
import { executeRow } from './rows/execute.js';
import { forkRow } from './rows/fork.js';
import { jupyterRow } from './rows/jupyter.js';
import { memoryRow } from './rows/memory.js';
import { outputRow } from './rows/output.js';
import { poolOverheadRow } from './rows/pool-overhead.js';
import { sandboxRow } from './rows/sandbox.js';
import { scalingRow } from './rows/scaling.js';
import { serviceRow } from './rows/service.js';
import { startRow } from './rows/start.js';
import { tenantsRow } from './rows/tenants.js';

const ROWS: Row[] = [
  poolOverheadRow,
  executeRow,
  startRow,
  outputRow,
  scalingRow,
  memoryRow,
  serviceRow,
  forkRow,
  jupyterRow,
  sandboxRow,
  tenantsRow,
  clusterRow,
];
const JUPYTER_PYTHON = '/usr/bin/python3';

function log(message: string): void {
  process.stdout.write(`${message}\n`);
}

function selectRows(only: string | undefined): Row[] {
  if (only === undefined) return ROWS;
  const wanted = new Set(only.split(',').map((s) => s.trim()));
  const rows = ROWS.filter((row) => wanted.has(String(row.id)) || wanted.has(row.key));
  if (rows.length === 0) throw new Error(`--only ${only} names no row; rows: ${ROWS.map((r) => `${r.id}=${r.key}`).join(', ')}`);
  return rows;
}

async function jupyterContext(quick: boolean): Promise<RunContext['jupyter']> {
  if (quick) return { python: null, reason: 'Jupyter is skipped in --quick' };
  const missing = await JupyterDriver.probe(JUPYTER_PYTHON);
  return missing === null ? { python: JUPYTER_PYTHON } : { python: null, reason: missing };
}

async function runRow(row: Row, context: RunContext): Promise<RowResult> {
  const t0 = nowMs();
  log(`[${row.id}] ${row.title}`);
  try {
    const result = await row.run({ ...context, progress: (message) => log(`    ${message}`) });
    return { id: row.id, key: row.key, title: row.title, ...result, durationMs: nowMs() - t0 };
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    log(`    failed: ${message}`);
    return {
      id: row.id,
      key: row.key,
      title: row.title,
      comparisons: [],
      notes: [],
      unavailable: `failed: ${message}`,
      durationMs: nowMs() - t0,
    };
  }
}

/** A PyREPL3 figure is missing when a row failed, or a line has no PyREPL3 median. */
function missingFigures(rows: RowResult[]): string[] {
  const missing: string[] = [];
  for (const row of rows) {
    if (row.unavailable !== undefined) missing.push(`row ${row.id}: ${row.unavailable}`);
    for (const c of row.comparisons) {
      if (c.subject === null || !Number.isFinite(c.subject.summary.median)) missing.push(`row ${row.id}: ${c.measure}`);
    }
  }
  return missing;
}

/** Child processes of this process still alive: every row must have ended its own. */
function leftoverChildren(): number[] {
  const children: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      // esbuild is tsx's compiler service when the suite runs from source, not a benchmark's child.
      if (ppid === process.pid && name !== 'esbuild') children.push(Number(entry));
    } catch {
      // The process ended while we looked.
    }
  }
  return children;
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: { quick: { type: 'boolean', default: false }, only: { type: 'string' }, out: { type: 'string' } },
  });
  const quick = values.quick ?? false;
  const rows = selectRows(values.only);
  const started = nowMs();
  const python = await describePython('python3');
  if (python === null) throw new Error('python3 is not on PATH');
  const jupyter = await jupyterContext(quick);
  const pythons: Record<string, string> = { 'python3 (pool default)': `${python.version} at ${python.executable}` };
  const extraPackages: Record<string, string> = {};
  if (jupyter.python !== null) {
    const driver = new JupyterDriver(jupyter.python);
    try {
      const v = await driver.versions();
      pythons['Jupyter anchor python'] = `${v.python} at ${jupyter.python}`;
      Object.assign(extraPackages, { ipykernel: v.ipykernel, jupyter_client: v.jupyter_client });
    } finally {
      await driver.close();
    }
  } else {
    pythons['Jupyter anchor'] = `not available: ${jupyter.reason}`;
  }
  log(
    `PyREPL3 benchmarks${quick ? ' (--quick)' : ''}: python ${python.version} (${python.executable}); Jupyter: ${jupyter.python ?? jupyter.reason}`,
  );

  const context: RunContext = { quick, python: python.executable, jupyter, progress: log };
  const results: RowResult[] = [];
  for (const row of rows) results.push(await runRow(row, context));

  const report = { quick, machine: await machineInfo(pythons, extraPackages), rows: results, durationMs: nowMs() - started };
  const partial = values.only !== undefined;
  const dir = values.out ?? (quick || partial ? join(tmpdir(), 'pyrepl3-bench') : DOCS_DIR);
  const base = quick ? 'benchmarks.quick' : 'benchmarks';
  for (const file of await writeReport(report, dir, base)) log(`wrote ${file}`);

  const leftovers = leftoverChildren();
  const missing = missingFigures(results);
  if (leftovers.length) log(`LEFTOVER child processes: ${leftovers.join(', ')}`);
  if (missing.length) log(`MISSING PyREPL3 figures:\n  ${missing.join('\n  ')}`);
  log(`done in ${((nowMs() - started) / 1000).toFixed(1)} s`);
  return leftovers.length || missing.length ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
