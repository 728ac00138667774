import { FloorProcess } from '../anchors/floor.js';
import { JupyterDriver } from '../anchors/jupyter.js';
import { compare, figure } from '../compare.js';
import type { Comparison, Row } from '../model.js';
import { startPool } from '../pyrepl.js';
import { interleave, nowMs } from '../stats.js';
import type { Session } from '../../src/index.js';

const MB = 1e6;

/** MB/s of output delivered to the caller through onOutput, until the result. */
async function pyreplThroughput(session: Session, code: string): Promise<number> {
  let bytes = 0;
  const t0 = nowMs();
  const result = await session.execute(code, {
    onOutput: (chunk) => {
      if (chunk.type === 'stream') bytes += Buffer.byteLength(chunk.text);
    },
  });
  const seconds = (nowMs() - t0) / 1000;
  if (result.status !== 'ok' || result.truncated)
    throw new Error(`output cell ended ${result.status}${result.truncated ? ', truncated' : ''}`);
  return bytes / MB / seconds;
}

export const outputRow: Row = {
  id: 4,
  key: 'output',
  title: 'Output throughput: printed output delivered to the caller',
  async run({ quick, python, jupyter, progress }) {
    const lines = quick ? 20_000 : 100_000;
    const code = `for i in range(${lines}):\n    print(i)`;
    const closers: Array<() => Promise<void>> = [];
    try {
      const pool = await startPool({ minIdle: 1, maxSessions: 1, pythonPath: python });
      closers.push(() => pool.shutdown());
      const session = await pool.acquire();
      const { floor } = await FloorProcess.start(python);
      closers.push(() => floor.close());
      progress(`PyREPL3 vs the floor, ${lines} lines`);
      const local = await interleave(
        {
          pyrepl: () => pyreplThroughput(session, code),
          floor: async () => {
            const t0 = nowMs();
            const bytes = await floor.run(code);
            return bytes / MB / ((nowMs() - t0) / 1000);
          },
        },
        { rounds: quick ? 2 : 12, warmup: 1 },
      );
      const measure = `\`for i in range(${lines}): print(i)\` (${(((String(lines - 1).length + 1) * lines) / 1000).toFixed(0)} KB at most)`;
      const comparisons: Comparison[] = [
        compare(
          measure,
          'MB/s',
          figure('PyREPL3 (onOutput)', local.pyrepl ?? [], python),
          figure("floor: the same cell exec'd in a bare `python -u` loop, stdout read by Node", local.floor ?? [], python),
          {
            lowerIsBetter: false,
          },
        ),
      ];
      if (jupyter.python === null) {
        comparisons.push(
          compare(measure, 'MB/s', figure('PyREPL3 (onOutput)', local.pyrepl ?? [], python), null, {
            lowerIsBetter: false,
            unavailable: jupyter.reason,
          }),
        );
      } else {
        const sysPool = await startPool({ minIdle: 1, maxSessions: 1, pythonPath: jupyter.python });
        closers.push(() => sysPool.shutdown());
        const sysSession = await sysPool.acquire();
        const driver = new JupyterDriver(jupyter.python);
        closers.push(() => driver.close());
        const kernel = await driver.startKernel();
        progress(`PyREPL3 vs Jupyter, ${lines} lines`);
        const versus = await interleave(
          {
            pyrepl: () => pyreplThroughput(sysSession, code),
            jupyter: async () => {
              const { ms, bytes } = await driver.execute(kernel.id, code);
              return bytes / MB / (ms / 1000);
            },
          },
          { rounds: 8, warmup: 1 },
        );
        comparisons.push(
          compare(
            measure,
            'MB/s',
            figure('PyREPL3 (onOutput)', versus.pyrepl ?? [], jupyter.python),
            figure('Jupyter: stream messages on iopub until idle', versus.jupyter ?? [], jupyter.python),
            {
              lowerIsBetter: false,
            },
          ),
        );
      }
      return {
        comparisons,
        notes: [
          'MB = 10^6 bytes of UTF-8 output. Each sample is one execution of the cell, timed from the call to the result (PyREPL3), to the end mark (floor) or to the iopub idle status (Jupyter).',
        ],
      };
    } finally {
      for (const close of closers.reverse()) await close();
    }
  },
};
