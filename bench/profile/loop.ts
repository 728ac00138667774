/**
 * A hot loop to profile, one PyREPL3 operation repeated for a while:
 *   node --cpu-prof --cpu-prof-dir=/tmp/pyrepl3-prof dist/bench/profile/loop.js acquire|execute|start [seconds]
 * then: node dist/bench/profile/top.js /tmp/pyrepl3-prof/<file>.cpuprofile
 */
import { startPool } from '../pyrepl.js';
import { nowMs } from '../stats.js';
import { StartProbe } from '../rows/start.js';

async function main(): Promise<void> {
  const what = process.argv[2] ?? 'acquire';
  const seconds = Number(process.argv[3] ?? 5);
  const end = nowMs() + seconds * 1000;
  let count = 0;
  if (what === 'start') {
    const probe = await StartProbe.open({ spawn: 'exec' });
    try {
      while (nowMs() < end) {
        await probe.sample();
        count++;
      }
    } finally {
      await probe.close();
    }
  } else {
    const pool = await startPool({ minIdle: 1, maxSessions: 1 });
    try {
      const held = what === 'execute' ? await pool.acquire() : null;
      while (nowMs() < end) {
        if (held !== null) await held.execute('1+1');
        else await (await pool.acquire()).release();
        count++;
      }
      await held?.release();
    } finally {
      await pool.shutdown();
    }
  }
  process.stdout.write(`${what}: ${count} in ${seconds} s, ${((seconds * 1e6) / count).toFixed(1)} µs each\n`);
}

void main();
