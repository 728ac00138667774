/**
 * How many generated cases to run, and how to replay one: set by test/model/run.mjs from
 * `npm run test:model -- --runs N --seed S --path P`, or directly through the environment.
 */
import type { Parameters as FcParameters } from 'fast-check';

const int = (name: string): number | undefined => {
  const value = process.env[name];
  return value === undefined || value === '' ? undefined : Number(value);
};

/**
 * fast-check parameters for one property: `defaultRuns`, or MODEL_RUNS × `scale` (a slow property runs a
 * fraction of what was asked); MODEL_SEED and MODEL_PATH replay one case.
 */
export function fcParams<T>(defaultRuns: number, scale = 1): FcParameters<T> {
  const runs = int('MODEL_RUNS');
  const seed = int('MODEL_SEED');
  const path = process.env.MODEL_PATH;
  return {
    numRuns: runs === undefined ? defaultRuns : Math.max(1, Math.round(runs * scale)),
    ...(seed !== undefined ? { seed } : {}),
    ...(path ? { path } : {}),
    endOnFailure: process.env.MODEL_NO_SHRINK === '1',
    verbose: 1,
  };
}

/** A time bound for a vitest test that runs `runs` cases of about `msPerRun` each. */
export function budget(defaultRuns: number, msPerRun: number, scale = 1): number {
  const runs = int('MODEL_RUNS');
  return Math.max(30_000, (runs === undefined ? defaultRuns : runs * scale) * msPerRun * 3);
}
