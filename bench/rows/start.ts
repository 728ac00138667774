import { FloorProcess } from '../anchors/floor.js';
import { JupyterDriver } from '../anchors/jupyter.js';
import { compare, figure, ratioAtMost } from '../compare.js';
import type { Comparison, Row } from '../model.js';
import { pyreplLogger } from '../pyrepl.js';
import { interleave, nowMs } from '../stats.js';
import { SessionPool, type SessionPoolOptions } from '../../src/index.js';

/** Modules a typical warmupCode imports; the bare anchor imports the same ones. */
export const COMMON_IMPORTS = [
  'json',
  're',
  'collections',
  'datetime',
  'math',
  'random',
  'typing',
  'dataclasses',
  'pathlib',
  'decimal',
  'asyncio',
];

/**
 * How PyREPL3 starts a session: one entry per `spawn` mode (issue 8); a new mode is one more entry.
 * 'fork' forks sessions from a warmed template process the pool keeps.
 */
const SPAWN_MODES: Array<{ label: string; options: Partial<SessionPoolOptions> }> = [
  { label: 'exec', options: { spawn: 'exec' } },
  { label: 'fork', options: { spawn: 'fork' } },
];

/**
 * Measures session starts in a running pool (minIdle 1): each sample destroys the idle session and
 * times its replacement from `sessionSpawned` to `sessionReady`, in ms. In a running pool, so that
 * a fork-mode pool's template is already up, as it is in production.
 */
export class StartProbe {
  readonly #spawned = new Map<string, number>();
  #onReady: ((ms: number) => void) | null = null;

  private constructor(readonly pool: SessionPool) {
    pool.on('sessionSpawned', ({ sessionId }) => this.#spawned.set(sessionId, nowMs()));
    pool.on('sessionReady', ({ sessionId }) => {
      const t0 = this.#spawned.get(sessionId);
      this.#spawned.delete(sessionId);
      if (t0 !== undefined) this.#onReady?.(nowMs() - t0);
    });
  }

  static async open(options: SessionPoolOptions): Promise<StartProbe> {
    const pool = new SessionPool({ minIdle: 1, maxSessions: 2, healthCheckIntervalMs: 0, logger: pyreplLogger, ...options });
    const probe = new StartProbe(pool);
    await pool.start();
    return probe;
  }

  /** One more session start: the idle session is destroyed and the pool replaces it. */
  async sample(): Promise<number> {
    const session = await this.pool.acquire();
    const ready = new Promise<number>((resolve) => (this.#onReady = resolve));
    await session.destroy();
    const ms = await ready;
    this.#onReady = null;
    return ms;
  }

  close(): Promise<void> {
    return this.pool.shutdown();
  }
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
    let local: Record<string, number[]> = {};
    const warmupCode = `import ${COMMON_IMPORTS.join(', ')}`;
    const probes: StartProbe[] = [];
    try {
      const contestants: Record<string, () => Promise<number>> = {
        bare: () => bareStartMs(python),
        bareImports: () => bareStartMs(python, COMMON_IMPORTS),
      };
      for (const mode of SPAWN_MODES) {
        const plain = await StartProbe.open({ pythonPath: python, ...mode.options });
        const warm = await StartProbe.open({ pythonPath: python, warmupCode, ...mode.options });
        probes.push(plain, warm);
        contestants[mode.label] = () => plain.sample();
        contestants[`${mode.label}Warmup`] = () => warm.sample();
      }
      progress(`PyREPL3 (${SPAWN_MODES.map((m) => m.label).join(', ')}) vs the bare interpreter`);
      local = await interleave(contestants, { rounds: quick ? 3 : 20, warmup: quick ? 1 : 2 });
    } finally {
      for (const probe of probes) await probe.close();
    }
    const bare = figure('bare `python -u` answering a first line on stdin', local.bare ?? [], python);
    const bareImports = figure('bare `python -u` importing the same modules, then answering', local.bareImports ?? [], python);
    const comparisons: Comparison[] = [];
    for (const mode of SPAWN_MODES) {
      comparisons.push(
        compare(
          `spawn to ready, no warmup (${mode.label})`,
          'ms',
          figure(`PyREPL3 (${mode.label})`, local[mode.label] ?? [], python),
          bare,
          {
            goal: ratioAtMost(1.3, 'within 1.3x the bare interpreter'),
          },
        ),
        compare(
          `spawn to ready, warmup of common imports (${mode.label})`,
          'ms',
          figure(`PyREPL3 (${mode.label})`, local[`${mode.label}Warmup`] ?? [], python),
          bareImports,
          {
            goal: ratioAtMost(1.3, 'within 1.3x the bare interpreter'),
          },
        ),
      );
    }

    if (jupyter.python === null) {
      comparisons.push(
        compare('spawn to ready, no warmup (exec)', 'ms', figure('PyREPL3 (exec)', local.exec ?? [], python), null, {
          unavailable: jupyter.reason,
        }),
      );
    } else {
      const sysPython = jupyter.python;
      const probe = await StartProbe.open({ pythonPath: sysPython, spawn: 'exec' });
      const driver = new JupyterDriver(sysPython);
      try {
        progress('PyREPL3 vs a Jupyter kernel');
        const versus = await interleave(
          {
            pyrepl: () => probe.sample(),
            jupyter: async () => {
              const kernel = await driver.startKernel();
              await driver.stopKernel(kernel.id);
              return kernel.startMs;
            },
          },
          { rounds: 8, warmup: 1 },
        );
        comparisons.push(
          compare(
            'spawn to ready, no warmup (exec)',
            'ms',
            figure('PyREPL3 (exec)', versus.pyrepl ?? [], sysPython),
            figure('Jupyter: start_kernel until wait_for_ready', versus.jupyter ?? [], sysPython),
          ),
        );
      } finally {
        await driver.close();
        await probe.close();
      }
    }
    return {
      comparisons,
      notes: [
        'PyREPL3: a running pool with minIdle 1; each sample destroys its idle session and times the replacement from `sessionSpawned` to `sessionReady` (process spawn or fork, worker start, handshake, warmup when there is one). The interpreter path is resolved once per pool process, before the first sample (a pyenv shim would add 0.3 s otherwise).',
        `Bare: \`<real python> -u bench/anchors/floor.py\` spawned from Node until it echoes a first line; the warmup case imports ${COMMON_IMPORTS.join(', ')} before answering, as PyREPL3's warmupCode does.`,
        "Start modes (`spawn` option): 'exec' starts a new interpreter per session; 'fork' forks it from the pool's warmed template process (its own start, paid once per pool, is not in these figures). A new mode is one more entry in SPAWN_MODES.",
      ],
    };
  },
};
