#!/usr/bin/env node
// npm run test:model -- [--runs N] [--seed S] [--path P] [--no-shrink] [vitest args...]
// vitest rejects unknown flags, so these become MODEL_* environment variables.
import { spawnSync } from 'node:child_process';

const env = { ...process.env };
const rest = [];
const args = process.argv.slice(2);
for (let i = 0; i < args.length; i++) {
  const arg = args[i];
  const [flag, inline] = arg.split('=', 2);
  const value = () => inline ?? args[++i];
  if (flag === '--runs') env.MODEL_RUNS = value();
  else if (flag === '--seed') env.MODEL_SEED = value();
  else if (flag === '--path') env.MODEL_PATH = value();
  else if (flag === '--no-shrink') env.MODEL_NO_SHRINK = '1';
  else rest.push(arg);
}
const result = spawnSync('npx', ['vitest', 'run', 'test/model', ...rest], { stdio: 'inherit', env });
process.exit(result.status ?? 1);
