import { availableParallelism } from 'node:os';
import { FloorProcess } from '../anchors/floor.js';
import { compare, figure } from '../compare.js';
import type { Comparison, Row } from '../model.js';
import { startPool } from '../pyrepl.js';
import { interleave, nowMs } from '../stats.js';
import type { Session } from '../../src/index.js';

const CELL = 'sum(i * i for i in range(20000))';
const COUNTS = [1, 2, 4, 8];

/** Executions per second of `workers` loops running the cell at once for `ms`. */
async function rate(workers: Array<() => Promise<unknown>>, ms: number): Promise<number> {
  let executions = 0;
  const t0 = nowMs();
  const end = t0 + ms;
  await Promise.all(
    workers.map(async (run) => {
      while (nowMs() < end) {
        await run();
        executions++;
      }
    }),
  );
  return executions / ((nowMs() - t0) / 1000);
}

export const scalingRow: Row = {
  id: 5,
  key: 'scaling',
  title: 'Scaling: sessions running small CPU-bound cells at once',
  async run({ quick, python, progress }) {
    const cores = availableParallelism();
    const most = Math.max(...COUNTS);
    const pool = await startPool({ minIdle: most, maxSessions: most, pythonPath: python });
    const floors: FloorProcess[] = [];
    try {
      const sessions: Session[] = await Promise.all(Array.from({ length: most }, () => pool.acquire()));
      for (let i = 0; i < most; i++) floors.push((await FloorProcess.start(python)).floor);
      const ms = quick ? 250 : 1000;
      const contestants: Record<string, () => Promise<number>> = {};
      for (const n of COUNTS) {
        contestants[`pyrepl${n}`] = () =>
          rate(
            sessions.slice(0, n).map((s) => () => s.execute(CELL)),
            ms,
          );
        contestants[`floor${n}`] = () =>
          rate(
            floors.slice(0, n).map((f) => () => f.run(CELL)),
            ms,
          );
      }
      progress(`${COUNTS.join(', ')} sessions, ${ms} ms each`);
      const samples = await interleave(contestants, { rounds: quick ? 1 : 6, warmup: quick ? 0 : 1 });
      const one = samples.pyrepl1 ?? [];
      const comparisons: Comparison[] = [];
      for (const n of COUNTS) {
        const subject = figure(`PyREPL3, ${n} session${n > 1 ? 's' : ''}`, samples[`pyrepl${n}`] ?? [], python);
        const ideal = Math.min(n, cores);
        comparisons.push(
          compare(
            `${n} at once: executions/s`,
            'exec/s',
            subject,
            figure(`${n} bare Python loop${n > 1 ? 's' : ''} (floor), same cell`, samples[`floor${n}`] ?? [], python),
            { lowerIsBetter: false },
          ),
          compare(
            `${n} at once: executions/s`,
            'exec/s',
            subject,
            figure(
              `ideal: 1 session's rate x min(${n}, ${cores} cores)`,
              one.map((r) => r * ideal),
            ),
            { lowerIsBetter: false },
          ),
        );
      }
      return {
        comparisons,
        notes: [
          `Cell: \`${CELL}\`. Each sample runs the cell in a loop on every session at once for ${ms} ms.`,
          `The machine has ${cores} cores; past that, more sessions can only share them. The "ideal" line is the 1-session rate times min(n, cores), so its ratio is the scaling efficiency.`,
        ],
      };
    } finally {
      await pool.shutdown();
      for (const floor of floors) await floor.close();
    }
  },
};
