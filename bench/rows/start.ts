import { FloorProcess } from '../anchors/floor.js';
import { JupyterDriver } from '../anchors/jupyter.js';
import { compare, figure, ratioAtMost } from '../compare.js';
import type { Comparison, Row } from '../model.js';
import { pyreplLogger } from '../pyrepl.js';
import { interleave, nowMs } from '../stats.js';
import { SessionPool, type SessionPoolOptions } from '../../src/index.js';

/** Modules a typical warmupCode imports; the bare anchor imports the same ones. */
export const COMMON_IMPORTS = ['json', 're', 'collections', 'datetime', 'math', 'random', 'typing', 'dataclasses', 'pathlib', 'decimal', 'asyncio'];

/**
 * How PyREPL3 starts a session. Issue 8 adds `spawn: 'fork'`: add
 * `{ label: 'fork', options: { spawn: 'fork' } }` here and the row gets its fork lines.
 */
const SPAWN_MODES: Array<{ label: string; options: Partial<SessionPoolOptions> }> = [{ label: 'exec', options: {} }];

/**
 * Spawn to ready of one session: a fresh pool with minIdle 1, from its sessionSpawned to its
 * sessionReady event, in ms. The pool is shut down afterwards (not timed).
 */
export async function sessionStartMs(options: SessionPoolOptions): Promise<number> {
  const pool = new SessionPool({ minIdle: 1, maxSessions: 1, healthCheckIntervalMs: 0, logger: pyreplLogger, ...options });
  const spawned = new Map<string, number>();
  let readyMs = Number.NaN;
  pool.on('sessionSpawned', ({ sessionId }) => spawned.set(sessionId, nowMs()));
  pool.on('sessionReady', ({ sessionId }) => {
    const t0 = spawned.get(sessionId);
    if (t0 !== undefined && Number.isNaN(readyMs)) readyMs = nowMs() - t0;
  });
  try {
    await pool.start();
  } finally {
    await pool.shutdown();
  }
  return readyMs;
}

async function bareStartMs(python: string, imports: string[] = []): Promise<number> {
  const { floor, startMs } = await FloorProcess.start(python, imports);
  await floor.close();
  return startMs;
}

export const startRow: Row = {
  id: 3,
  key: 'start',
  title: 'Session start: spawn to ready',
  async run({ quick, python, jupyter, progress }) {
    const warmupCode = `import ${COMMON_IMPORTS.join(', ')}`;
    // The first spawn of a process resolves the interpreter (a shim costs 0.3 s): not a session start.
    await sessionStartMs({ pythonPath: python });
    const contestants: Record<string, () => Promise<number>> = {
      bare: () => bareStartMs(python),
      bareImports: () => bareStartMs(python, COMMON_IMPORTS),
    };
    for (const mode of SPAWN_MODES) {
      contestants[`${mode.label}`] = () => sessionStartMs({ pythonPath: python, ...mode.options });
      contestants[`${mode.label}Warmup`] = () => sessionStartMs({ pythonPath: python, warmupCode, ...mode.options });
    }
    progress('PyREPL3 vs the bare interpreter');
    const local = await interleave(contestants, { rounds: quick ? 3 : 20, warmup: quick ? 1 : 2 });
    const bare = figure('bare `python -u` answering a first line on stdin', local.bare ?? [], python);
    const bareImports = figure('bare `python -u` importing the same modules, then answering', local.bareImports ?? [], python);
    const comparisons: Comparison[] = [];
    for (const mode of SPAWN_MODES) {
      comparisons.push(
        compare(`spawn to ready, no warmup (${mode.label})`, 'ms', figure(`PyREPL3 (${mode.label})`, local[mode.label] ?? [], python), bare, {
          goal: ratioAtMost(1.3, 'within 1.3x the bare interpreter'),
        }),
        compare(`spawn to ready, warmup of common imports (${mode.label})`, 'ms', figure(`PyREPL3 (${mode.label})`, local[`${mode.label}Warmup`] ?? [], python), bareImports, {
          goal: ratioAtMost(1.3, 'within 1.3x the bare interpreter'),
        }),
      );
    }

    if (jupyter.python === null) {
      comparisons.push(compare('spawn to ready, no warmup', 'ms', figure('PyREPL3', local.exec ?? [], python), null, { unavailable: jupyter.reason }));
    } else {
      const sysPython = jupyter.python;
      await sessionStartMs({ pythonPath: sysPython });
      const driver = new JupyterDriver(sysPython);
      try {
        progress('PyREPL3 vs a Jupyter kernel');
        const versus = await interleave(
          {
            pyrepl: () => sessionStartMs({ pythonPath: sysPython }),
            jupyter: async () => {
              const kernel = await driver.startKernel();
              await driver.stopKernel(kernel.id);
              return kernel.startMs;
            },
          },
          { rounds: 8, warmup: 1 },
        );
        comparisons.push(
          compare('spawn to ready, no warmup', 'ms', figure('PyREPL3', versus.pyrepl ?? [], sysPython), figure('Jupyter: start_kernel until wait_for_ready', versus.jupyter ?? [], sysPython)),
        );
      } finally {
        await driver.close();
      }
    }
    return {
      comparisons,
      notes: [
        'PyREPL3: a fresh pool with minIdle 1 per sample, from its `sessionSpawned` to its `sessionReady` event (process spawn, worker start, handshake, warmup when there is one). The interpreter path was resolved once before (a pyenv shim would add 0.3 s per start otherwise).',
        `Bare: \`<real python> -u bench/anchors/floor.py\` spawned from Node until it echoes a first line; the warmup case imports ${COMMON_IMPORTS.join(', ')} before answering, as PyREPL3's warmupCode does.`,
        'Start mode: only `exec` today; the row is written so that a `fork` mode (issue 8) is one more entry in SPAWN_MODES.',
      ],
    };
  },
};
