import { SessionPool } from './index.js';

/**
 * `npm run demo`: the scenario that deadlocked the original pool (three concurrent acquires on a
 * pool warmed with two sessions), then state, errors and streaming. Prints to stdout.
 */
const say = (line: string): void => {
  process.stdout.write(`${line}\n`);
};

await using pool = new SessionPool({ minIdle: 2, maxSessions: 5, warmupCode: 'import json' });
let started = performance.now();
await pool.start();
say(`pool started with 2 warm sessions in ${(performance.now() - started).toFixed(0)} ms`);

started = performance.now();
const sessions = await Promise.all([pool.acquire(), pool.acquire(), pool.acquire()]);
say(`3 concurrent acquires granted in ${(performance.now() - started).toFixed(0)} ms: pids ${sessions.map((s) => s.pid).join(', ')}`);

const [first] = sessions;
await first!.execute('x = 41');
const answer = await first!.execute('x + 1');
say(`state persists: x + 1 = ${answer.value} (execution ${answer.executionCount}, ${answer.durationMs.toFixed(2)} ms in Python)`);

const failure = await first!.execute('1 / 0');
say(`a Python exception is data: ${failure.status} ${failure.error?.name}: ${failure.error?.message}`);

await first!.execute('import time\nfor i in range(3):\n    print(f"tick {i}", flush=True)\n    time.sleep(0.1)', {
  onOutput: (chunk) => chunk.type === 'stream' && say(`  streamed ${chunk.stream}: ${chunk.text.trim()}`),
});

await Promise.all(sessions.map((s) => s.release()));
say(`metrics: ${JSON.stringify(pool.metrics())}`);
