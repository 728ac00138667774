/**
 * The ledger's waiter queue over more arrivals than the model tests make (they stay far below the
 * point where the arrival array is compacted): the oldest waiter still waiting is served first, however
 * many arrived and left before it.
 */
import { describe, expect, it } from 'vitest';
import { Ledger } from '../../machines/pool.ledger.js';

/** Makes one session idle and hands it out; the id of the waiter it went to. */
function serveOne(ledger: Ledger): string | undefined {
  // Asking who is oldest takes no one out of the queue.
  expect(ledger.oldestWaiter()).toBe(ledger.oldestWaiter());
  const session = ledger.sessions.get(ledger.addStarting())!;
  ledger.setPhase(session, 'idle');
  const grants = ledger.takeGrants();
  if (grants.length === 0) {
    ledger.remove(session);
    return undefined;
  }
  expect(grants.map((g) => g.session.id)).toEqual([session.id]);
  return grants[0]!.waiter.id;
}

describe("the ledger's waiter queue", () => {
  it('serves the oldest waiter still waiting first, across thousands of arrivals and departures', () => {
    const ledger = new Ledger();
    const expected: string[] = [];
    const served: string[] = [];
    let next = 0;
    // Waves: 1500 arrive, every third leaves (timeout, abort), and half of those left are served.
    for (let wave = 0; wave < 4; wave++) {
      for (let i = 0; i < 1500; i++) {
        const id = `w${next++}`;
        ledger.addWaiter({ id, hasDeadline: false });
        if (next % 3 === 0) ledger.waiters.delete(id);
      }
      for (let i = 0; i < 500; i++) served.push(serveOne(ledger)!);
    }
    while (ledger.waiters.size > 0) served.push(serveOne(ledger)!);
    for (let i = 0; i < next; i++) if ((i + 1) % 3 !== 0) expected.push(`w${i}`);
    expect(served).toEqual(expected);
    expect(ledger.oldestWaiter()).toBeUndefined();
    // An emptied queue takes new waiters as before.
    ledger.addWaiter({ id: 'late', hasDeadline: false });
    expect(serveOne(ledger)).toBe('late');
  });
});
