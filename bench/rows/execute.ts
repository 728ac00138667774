import { FloorProcess } from '../anchors/floor.js';
import { JupyterDriver } from '../anchors/jupyter.js';
import { compare, figure, ratioAtLeast, ratioAtMost } from '../compare.js';
import type { Comparison, Row } from '../model.js';
import { startPool } from '../pyrepl.js';
import { interleave, timed } from '../stats.js';
import type { SessionPool } from '../../src/index.js';
import type { Session } from '../../src/index.js';

const CODE = '1+1';

async function heldSession(python: string): Promise<{ pool: SessionPool; session: Session }> {
  const pool = await startPool({ minIdle: 1, maxSessions: 1, pythonPath: python });
  const session = await pool.acquire();
  return { pool, session };
}

export const executeRow: Row = {
  id: 2,
  key: 'execute',
  title: 'Execute round trip of `1+1` on a held session',
  async run({ quick, python, jupyter, progress }) {
    const closers: Array<() => Promise<void>> = [];
    try {
      const held = await heldSession(python);
      closers.push(() => held.pool.shutdown());
      const { floor } = await FloorProcess.start(python);
      closers.push(() => floor.close());
      const batch = quick ? 50 : 100;
      let serial = 0;
      progress(`PyREPL3 vs the floor, batches of ${batch}`);
      const local = await interleave(
        {
          pyrepl: () => timed(batch, () => held.session.execute(CODE)),
          floor: () => timed(batch, () => floor.echo(`${CODE}\n`)),
          floorJson: () => timed(batch, () => floor.json(++serial, CODE)),
        },
        { rounds: quick ? 4 : 30, warmup: quick ? 1 : 3 },
      );
      const pyrepl = figure('PyREPL3', local.pyrepl ?? [], python);
      const comparisons: Comparison[] = [
        compare(
          '`1+1` round trip, held session',
          'µs',
          pyrepl,
          figure('floor: line echo through a bare Python loop over stdio pipes', local.floor ?? [], python),
          {
            goal: ratioAtMost(1.5, 'within 1.5x the floor'),
          },
        ),
        compare(
          '`1+1` round trip, held session',
          'µs',
          pyrepl,
          figure('floor + JSON: eval of a JSON request, JSON reply, same loop', local.floorJson ?? [], python),
        ),
      ];

      const jupyterText = 'at least 10x faster than Jupyter (ratio ≤ 0.1)';
      if (jupyter.python === null) {
        comparisons.push(
          compare('`1+1` round trip, held session', 'µs', pyrepl, null, {
            goal: ratioAtLeast(Infinity, jupyterText),
            unavailable: jupyter.reason,
          }),
        );
      } else {
        const sysHeld = await heldSession(jupyter.python);
        closers.push(() => sysHeld.pool.shutdown());
        const driver = new JupyterDriver(jupyter.python);
        closers.push(() => driver.close());
        const kernel = await driver.startKernel();
        const jbatch = 10;
        progress(`PyREPL3 vs Jupyter, batches of ${jbatch}`);
        const versus = await interleave(
          {
            pyrepl: () => timed(jbatch, () => sysHeld.session.execute(CODE)),
            jupyter: async () => {
              const samples: number[] = [];
              for (let i = 0; i < jbatch; i++) samples.push((await driver.execute(kernel.id, CODE)).ms * 1000);
              return samples;
            },
          },
          { rounds: 20, warmup: 2 },
        );
        comparisons.push(
          compare(
            '`1+1` round trip, held session',
            'µs',
            figure('PyREPL3', versus.pyrepl ?? [], jupyter.python),
            figure('Jupyter: ipykernel via jupyter_client (reply + idle)', versus.jupyter ?? [], jupyter.python),
            {
              goal: { text: jupyterText, test: (_s, r) => (r === null ? null : r <= 0.1) },
            },
          ),
        );
      }
      return {
        comparisons,
        notes: [
          'PyREPL3: `session.execute("1+1")` resolved with its result (value, data, output, timing); timed in Node per call.',
          'Floor: the same line written to a bare `python -u` loop (`sys.stdin.buffer.readline` / `sys.stdout.buffer.write`) and read back whole; no framing, no evaluation.',
          'Jupyter: timed inside the jupyter_client process, from execute_request until both the execute_reply and the iopub idle status arrived (so Node adds nothing to it).',
        ],
      };
    } finally {
      for (const close of closers.reverse()) await close();
    }
  },
};
