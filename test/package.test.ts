import { describe, expect, it } from 'vitest';

describe('the package', () => {
  it("is importable by its own name through the exports map, as `import { SessionPool } from 'pyrepl3'`", async () => {
    const pyrepl3 = await import('pyrepl3');
    expect(typeof pyrepl3.SessionPool).toBe('function');
    expect(new pyrepl3.PoolClosedError().name).toBe('PoolClosedError');
  });
});
