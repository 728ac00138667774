import type { Reporter, TestModule, Vitest } from 'vitest/node';

/**
 * For `npm run mutate` only (vitest.mutate.config.ts). A mutant that makes a module throw while it
 * loads (say, a machine's id emptied, so that a `#pool.…` target no longer resolves) fails every test
 * file that imports it before any test is collected. Stryker's vitest runner (9.6) builds a mutant's
 * result from the collected tests only, so it reported such a mutant as Survived (stryker-js issue
 * 6150). This gives each test file that failed with no test in it one failed test that carries the
 * load error, so that Stryker counts the mutant as killed. A file that loaded is left as it is.
 */
export class LoadFailuresAsFailedTests implements Reporter {
  #vitest: Vitest | null = null;

  onInit(vitest: Vitest): void {
    this.#vitest = vitest;
  }

  onTestRunEnd(_modules: ReadonlyArray<TestModule>): void {
    for (const file of this.#vitest?.state.getFiles() ?? []) {
      if (file.result?.state !== 'fail' || file.tasks.length > 0) continue;
      // The runner reads only type, name, mode, suite, file and result of a test.
      file.tasks.push({
        type: 'test',
        id: `${file.id}_load`,
        name: 'loads',
        mode: 'run',
        suite: file,
        file,
        result: { state: 'fail', errors: file.result.errors ?? [] },
      } as unknown as (typeof file.tasks)[number]);
    }
  }
}
