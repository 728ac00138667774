import { FloorProcess } from '../anchors/floor.js';
import { JupyterDriver } from '../anchors/jupyter.js';
import { compare, figure } from '../compare.js';
import { processMemory, type ProcessMemory } from '../memory.js';
import type { Comparison, Row } from '../model.js';
import { pyreplLogger } from '../pyrepl.js';
import { appendTo, interleave } from '../stats.js';
import { SessionPool, type SessionPoolOptions } from '../../src/index.js';
import { COMMON_IMPORTS } from './start.js';

const SETTLE_MS = 300;
const KiB_PER_MiB = 1024;

const settle = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, SETTLE_MS));

/** Memory of every session of a fresh pool of `count` idle sessions. */
async function pyreplMemory(count: number, options: SessionPoolOptions): Promise<ProcessMemory[]> {
  const pool = new SessionPool({ minIdle: count, maxSessions: count, healthCheckIntervalMs: 0, logger: pyreplLogger, ...options });
  const pids: number[] = [];
  pool.on('sessionReady', ({ pid }) => pids.push(pid));
  try {
    await pool.start();
    await settle();
    return await Promise.all(pids.map((pid) => processMemory(pid)));
  } finally {
    await pool.shutdown();
  }
}

async function floorMemory(count: number, python: string, imports: string[] = []): Promise<ProcessMemory[]> {
  const floors: FloorProcess[] = [];
  try {
    for (let i = 0; i < count; i++) floors.push((await FloorProcess.start(python, imports)).floor);
    await settle();
    return await Promise.all(floors.map((f) => processMemory(f.pid)));
  } finally {
    for (const floor of floors) await floor.close();
  }
}

async function jupyterMemory(driver: JupyterDriver, count: number): Promise<ProcessMemory[]> {
  const kernels = [];
  try {
    for (let i = 0; i < count; i++) kernels.push(await driver.startKernel());
    await settle();
    return await Promise.all(kernels.map((k) => (k.pid === null ? Promise.reject(new Error('no kernel pid')) : processMemory(k.pid))));
  } finally {
    for (const kernel of kernels) await driver.stopKernel(kernel.id);
  }
}

export const memoryRow: Row = {
  id: 6,
  key: 'memory',
  title: 'Memory per idle session (from /proc/<pid>/smaps_rollup)',
  async run({ quick, python, jupyter, progress }) {
    const count = quick ? 2 : 4;
    const warmupCode = `import ${COMMON_IMPORTS.join(', ')}`;
    const raw: Record<string, ProcessMemory[]> = {};
    const keep = (name: string, get: () => Promise<ProcessMemory[]>) => async () => {
      const memory = await get();
      appendTo(raw, name, ...memory);
      return memory.map((m) => m.pssKiB);
    };
    progress(`${count} idle sessions per sample, each group alone`);
    await interleave(
      {
        pyrepl: keep('pyrepl', () => pyreplMemory(count, { pythonPath: python })),
        floor: keep('floor', () => floorMemory(count, python)),
        pyreplWarm: keep('pyreplWarm', () => pyreplMemory(count, { pythonPath: python, warmupCode })),
        floorWarm: keep('floorWarm', () => floorMemory(count, python, COMMON_IMPORTS)),
      },
      { rounds: quick ? 1 : 3, warmup: 0 },
    );
    let driver: JupyterDriver | null = null;
    try {
      if (jupyter.python !== null) {
        const sysPython = jupyter.python;
        const jd = new JupyterDriver(sysPython);
        driver = jd;
        progress('PyREPL3 vs Jupyter kernels');
        await interleave(
          {
            pyreplSys: keep('pyreplSys', () => pyreplMemory(2, { pythonPath: sysPython })),
            jupyter: keep('jupyter', () => jupyterMemory(jd, 2)),
          },
          { rounds: 2, warmup: 0 },
        );
      }
    } finally {
      await driver?.close();
    }
    const mib = (name: string, field: keyof ProcessMemory) => (raw[name] ?? []).map((m) => m[field] / KiB_PER_MiB);
    const comparisons: Comparison[] = [];
    const pairs: Array<[string, string, string, string, string]> = [
      ['pyrepl', 'floor', 'idle, no warmup', 'bare `python -u` loop (floor)', python],
      ['pyreplWarm', 'floorWarm', 'idle, after importing common modules', 'bare loop after the same imports', python],
    ];
    for (const [field, label] of [
      ['pssKiB', 'PSS'],
      ['rssKiB', 'RSS'],
    ] as const) {
      for (const [subject, anchor, what, anchorLabel, py] of pairs) {
        comparisons.push(
          compare(
            `${label} per session, ${what}`,
            'MiB',
            figure('PyREPL3', mib(subject, field), py),
            figure(anchorLabel, mib(anchor, field), py),
          ),
        );
      }
      if (jupyter.python !== null) {
        comparisons.push(
          compare(
            `${label} per session, idle, no warmup`,
            'MiB',
            figure('PyREPL3', mib('pyreplSys', field), jupyter.python),
            figure('Jupyter: idle ipykernel kernel', mib('jupyter', field), jupyter.python),
          ),
        );
      } else {
        comparisons.push(
          compare(`${label} per session, idle, no warmup`, 'MiB', figure('PyREPL3', mib('pyrepl', field), python), null, {
            unavailable: jupyter.reason,
          }),
        );
      }
    }
    return {
      comparisons,
      notes: [
        `Each group (${count} PyREPL3 sessions, or ${count} bare processes, or 2 kernels) is measured alone, ${SETTLE_MS} ms after it is ready, so PSS splits shared pages only among its own members.`,
        "PSS (proportional set size) is what a session adds to the machine; RSS counts the interpreter's shared pages in full.",
      ],
    };
  },
};
