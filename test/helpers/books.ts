import type { SessionPool } from '../../src/index.js';

/**
 * Where the pool's counters disagree with its own records. metrics() reads counters the ledger
 * keeps up to date on every phase change; pool.snapshot() lists each session record with its
 * phase and whether its actor still lives. A counter that drifts from the records, or a record
 * whose actor is gone, is a bookkeeping bug (an identity like idle + busy + starting == total
 * cannot catch either: metrics() defines total that way).
 */
export function booksDisagree(pool: SessionPool): string[] {
  const { metrics, sessions } = pool.snapshot();
  const recorded = (phase: string): number => sessions.filter((s) => s.phase === phase).length;
  const counted = { idle: metrics.idle, leased: metrics.busy, starting: metrics.starting, stopping: metrics.stopping };
  const problems = Object.entries(counted)
    .filter(([phase, n]) => recorded(phase) !== n)
    .map(([phase, n]) => `counter says ${n} ${phase}, the records say ${recorded(phase)}`);
  if (metrics.total + metrics.stopping !== sessions.length)
    problems.push(`${metrics.total} + ${metrics.stopping} stopping sessions counted, ${sessions.length} recorded`);
  // Only a stopping session may have reached its end before the pool buried it.
  for (const s of sessions) if (s.state === 'dead' && s.phase !== 'stopping') problems.push(`${s.id} is ${s.phase} but its actor is gone`);
  return problems;
}
