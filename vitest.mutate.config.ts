import { defineConfig } from 'vitest/config';
import { LoadFailuresAsFailedTests } from './test/helpers/mutation-load-failures.js';

// The tests Stryker runs against each mutant of machines/ (npm run mutate): the ones on fakes and the
// model clock. The real-process suites are left out: too slow to repeat per mutant.
export default defineConfig({
  test: {
    include: ['test/model/**/*.test.ts', 'test/machines/**/*.test.ts', 'test/jupyter/kernel-queue.test.ts'],
    exclude: ['test/model/schedules.real.test.ts'],
    // One fixed seed for the generated schedules, so that a mutant is killed (or not) the same way every run.
    env: { MODEL_SEED: '15' },
    reporters: ['default', new LoadFailuresAsFailedTests()],
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});
