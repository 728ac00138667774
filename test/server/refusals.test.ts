import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { CodeTooLargeError } from '../../src/index.js';
import type { Tenant } from '../../src/server/auth.js';
import {
  DrainingError,
  mapError,
  NotFoundError,
  QuotaExceededError,
  QuotaStoreUnavailableError,
  SessionElsewhereError,
  SessionLostError,
  ShuttingDownError,
} from '../../src/server/index.js';
import { serve } from './helpers.js';

const carol: Tenant = { name: 'carol', maxSessions: 1, maxConcurrent: 1, admin: false };

describe('the registry refuses with domain errors', () => {
  it('says what happened, and nothing of HTTP', async () => {
    const { registry, identity } = await serve({ maxCodeBytes: 1024 });
    const entry = await registry.create(carol);
    await expect(registry.create(carol)).rejects.toEqual(new QuotaExceededError('carol', 'sessions', 1));
    expect(() => registry.get(carol, 'no-such-id')).toThrow(NotFoundError);
    expect(() => registry.get({ ...carol, name: 'dave' }, entry.id)).toThrow(NotFoundError);
    expect(() => registry.get(carol, `elsewhere.${identity.epoch}.${randomUUID()}`)).toThrow(SessionElsewhereError);
    const earlier = identity.epoch === '00000000' ? '11111111' : '00000000';
    expect(() => registry.get(carol, `${identity.node}.${earlier}.${randomUUID()}`)).toThrow(SessionLostError);
    expect(() => registry.execute(entry, 'x'.repeat(2_000))).toThrow(CodeTooLargeError);
    const running = registry.execute(entry, 'import time; time.sleep(30)').catch(() => undefined);
    await expect(registry.runOnce(carol, '1')).rejects.toEqual(new QuotaExceededError('carol', 'executions', 1));
    registry.interrupt(entry);
    await running;
    void registry.drain();
    await expect(registry.runOnce(carol, '1')).rejects.toBeInstanceOf(DrainingError);
    await registry.close(0);
    expect(() => registry.execute(entry, '1')).toThrow(ShuttingDownError);
  });
});

describe('the service answers each refusal as it always has', () => {
  it.each([
    [
      new QuotaExceededError('t', 'sessions', 4),
      { status: 429, code: 'quota_exceeded', message: 'tenant t already holds its 4 sessions', retryAfter: 1 },
    ],
    [
      new QuotaExceededError('t', 'sessionsAcrossNodes', 4),
      { status: 429, code: 'quota_exceeded', message: 'tenant t already holds its 4 sessions across nodes', retryAfter: 1 },
    ],
    [
      new QuotaExceededError('t', 'executions', 2),
      { status: 429, code: 'quota_exceeded', message: 'tenant t already runs its 2 executions', retryAfter: 1 },
    ],
    [new NotFoundError(), { status: 404, code: 'not_found', message: 'session not found' }],
    [new NotFoundError('execution'), { status: 404, code: 'not_found', message: 'execution not found' }],
    [
      new SessionElsewhereError('a.b.c', 'a', 'z'),
      { status: 421, code: 'misdirected', message: 'session a.b.c lives on node a, not on z' },
    ],
    [new SessionLostError('a.b.c', 'a'), { status: 410, code: 'session_lost', message: 'session a.b.c was lost when node a restarted' }],
    [new QuotaStoreUnavailableError('no store'), { status: 503, code: 'quota_unavailable', message: 'no store' }],
    [new ShuttingDownError(), { status: 503, code: 'shutting_down', message: 'the server is shutting down' }],
    [new DrainingError(), { status: 503, code: 'draining', message: 'this node is draining: it takes no new sessions' }],
    [
      new CodeTooLargeError(2_000, 1_024),
      { status: 413, code: 'code_too_large', message: 'code is 2000 bytes, over the limit of 1024 bytes' },
    ],
  ])('%s', (error, answer) => {
    expect(mapError(error)).toEqual(answer);
  });
});
