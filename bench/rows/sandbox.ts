import { compare, figure, medianAtMost, ratioAtMost, type Goal } from '../compare.js';
import type { Comparison, Row } from '../model.js';
import { startPool } from '../pyrepl.js';
import { interleave, timed } from '../stats.js';
import { COMMON_IMPORTS, StartProbe } from './start.js';

/**
 * Issue 11: what the sandbox costs. Session start per spawn mode, and a held session's `1+1`, each
 * sandboxed beside unsandboxed, interleaved in one run.
 */
export const sandboxRow: Row = {
  id: 10,
  key: 'sandbox',
  title: 'Sandboxed sessions: start and round trip beside unsandboxed',
  async run({ quick, python, progress }) {
    const warmupCode = `import ${COMMON_IMPORTS.join(', ')}`;
    const probes: StartProbe[] = [];
    const pools: Array<{ shutdown(): Promise<void> }> = [];
    try {
      const contestants: Record<string, () => Promise<number | number[]>> = {};
      for (const spawn of ['exec', 'fork'] as const) {
        for (const sandbox of [false, true]) {
          const probe = await StartProbe.open({ pythonPath: python, spawn, warmupCode, sandbox });
          probes.push(probe);
          contestants[`${spawn}${sandbox ? 'Sandboxed' : ''}`] = () => probe.sample();
        }
      }
      for (const sandbox of [false, true]) {
        const pool = await startPool({ minIdle: 1, maxSessions: 1, pythonPath: python, sandbox });
        pools.push(pool);
        const session = await pool.acquire();
        contestants[`roundTrip${sandbox ? 'Sandboxed' : ''}`] = () => timed(quick ? 20 : 100, () => session.execute('1+1'));
      }
      progress('session start (exec, fork) and 1+1, sandboxed and not');
      const local = await interleave(contestants, { rounds: quick ? 3 : 20, warmup: quick ? 1 : 2 });
      const line = (measure: string, unit: string, key: string, goal: Goal): Comparison =>
        compare(
          measure,
          unit,
          figure('PyREPL3, sandboxed', local[`${key}Sandboxed`] ?? [], python),
          figure('PyREPL3, unsandboxed', local[key] ?? [], python),
          { goal },
        );
      return {
        comparisons: [
          line('spawn to ready, warmup of common imports (exec)', 'ms', 'exec', ratioAtMost(1.3, 'within 1.3x unsandboxed exec')),
          line('spawn to ready, warmup of common imports (fork)', 'ms', 'fork', medianAtMost(5, '5 ms or less')),
          line('`1+1` on a held session (exec)', 'µs', 'roundTrip', ratioAtMost(1.1, 'within 1.1x unsandboxed')),
        ],
        notes: [
          'Start: a running pool with minIdle 1 per configuration; each sample destroys the idle session and times its replacement from `sessionSpawned` to `sessionReady`, as in the session-start row. Sandboxed exec runs the interpreter under bubblewrap; sandboxed fork builds the namespaces, mounts, cgroups, uid and seccomp filter in the forked spare, ahead of demand.',
          'Round trip: one held session per pool; samples are single `execute("1+1")` calls.',
        ],
      };
    } finally {
      for (const probe of probes) await probe.close();
      for (const pool of pools) await pool.shutdown();
    }
  },
};
