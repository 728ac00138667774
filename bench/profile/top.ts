/**
 * Summarizes a .cpuprofile: self time by function and by where the code lives (src/, machines/,
 * xstate, node internals ...). Usage: node dist/bench/profile/top.js <file.cpuprofile> [count]
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

function area(url: string): string {
  if (url === '') return '(native/VM)';
  if (url.startsWith('node:')) return 'node internals';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1]!;
  const local = /\/dist\/(src\/process|src\/server|src|machines|bench)\//.exec(url);
  return local ? local[1]! : url;
}

const file = process.argv[2];
if (file === undefined) throw new Error('usage: top.js <file.cpuprofile> [count]');
const count = Number(process.argv[3] ?? 25);
const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const selfUs = new Map<number, number>();
for (const [i, id] of profile.samples.entries()) selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
const total = [...selfUs.values()].reduce((a, b) => a + b, 0);

const byFunction = new Map<string, number>();
const byArea = new Map<string, number>();
for (const [id, us] of selfUs) {
  const frame = byId.get(id)?.callFrame;
  if (!frame) continue;
  const where = frame.url.replace(/^.*\/(dist|node_modules)\//, '$1/');
  const key = `${frame.functionName || '(anonymous)'}  ${where}:${frame.lineNumber + 1}`;
  byFunction.set(key, (byFunction.get(key) ?? 0) + us);
  byArea.set(area(frame.url), (byArea.get(area(frame.url)) ?? 0) + us);
}
const pct = (us: number) => `${((100 * us) / total).toFixed(1).padStart(5)}%`;
process.stdout.write(`total ${(total / 1000).toFixed(0)} ms sampled\n\nself time by area:\n`);
for (const [name, us] of [...byArea].sort((a, b) => b[1] - a[1])) process.stdout.write(`${pct(us)}  ${name}\n`);
process.stdout.write('\nself time by function:\n');
for (const [name, us] of [...byFunction].sort((a, b) => b[1] - a[1]).slice(0, count)) process.stdout.write(`${pct(us)}  ${name}\n`);
