import { createPool as createGenericPool } from 'generic-pool';
import { Pool as TarnPool } from 'tarn';
import { compare, figure, ratioAtMost } from '../compare.js';
import type { Comparison, Row } from '../model.js';
import { startPool } from '../pyrepl.js';
import { appendTo, interleave, median, nowMs, percentile } from '../stats.js';

/** What the three pools have in common, reduced to acquire and release. */
interface Lender {
  acquire(): Promise<() => Promise<void> | void>;
  close(): Promise<void>;
}

const SESSIONS = 4;

async function sessionPoolLender(python: string): Promise<Lender> {
  const pool = await startPool({ minIdle: SESSIONS, maxSessions: SESSIONS, pythonPath: python, acquireTimeoutMs: Infinity });
  return {
    acquire: async () => {
      const session = await pool.acquire();
      return () => session.release();
    },
    close: () => pool.shutdown(),
  };
}

async function genericPoolLender(): Promise<Lender> {
  const pool = createGenericPool({ create: async () => ({}), destroy: async () => undefined }, { min: SESSIONS, max: SESSIONS });
  await pool.ready();
  return {
    acquire: async () => {
      const resource = await pool.acquire();
      return () => pool.release(resource);
    },
    close: async () => {
      await pool.drain();
      await pool.clear();
    },
  };
}

async function tarnLender(): Promise<Lender> {
  const pool = new TarnPool<object>({ create: async () => ({}), destroy: () => undefined, min: SESSIONS, max: SESSIONS });
  // tarn creates lazily: take every resource once so that all of them are warm.
  const warm = await Promise.all(Array.from({ length: SESSIONS }, () => pool.acquire().promise));
  for (const resource of warm) pool.release(resource);
  return {
    acquire: async () => {
      const resource = await pool.acquire().promise;
      return () => {
        pool.release(resource);
      };
    },
    close: async () => {
      await pool.destroy();
    },
  };
}

/** µs per acquire+release for one caller doing `count` of them in a row. */
async function singleCaller(lender: Lender, count: number): Promise<number> {
  const t0 = nowMs();
  for (let i = 0; i < count; i++) {
    const release = await lender.acquire();
    await release();
  }
  return ((nowMs() - t0) * 1000) / count;
}

interface Burst {
  perAcquireUs: number;
  waitsMs: number[];
}

/** `count` callers acquire at once; each releases as soon as it has its resource. */
async function burst(lender: Lender, count: number): Promise<Burst> {
  const waitsMs: number[] = new Array<number>(count);
  const t0 = nowMs();
  await Promise.all(
    Array.from({ length: count }, async (_, i) => {
      const asked = nowMs();
      const release = await lender.acquire();
      waitsMs[i] = nowMs() - asked;
      await release();
    }),
  );
  return { perAcquireUs: ((nowMs() - t0) * 1000) / count, waitsMs };
}

export const poolOverheadRow: Row = {
  id: 1,
  key: 'pool',
  title: 'Pool overhead: warm acquire+release, and a burst of concurrent acquirers on 4 sessions',
  async run({ quick, python, progress }) {
    const lenders: Record<string, Lender> = {};
    try {
      lenders['PyREPL3 SessionPool'] = await sessionPoolLender(python);
      lenders['generic-pool'] = await genericPoolLender();
      lenders.tarn = await tarnLender();
      const names = Object.keys(lenders);
      const lender = (name: string): Lender => lenders[name]!;

      const batch = quick ? 200 : 1000;
      progress(`single caller: batches of ${batch}`);
      const single = await interleave(Object.fromEntries(names.map((name) => [name, () => singleCaller(lender(name), batch)])), {
        rounds: quick ? 5 : 40,
        warmup: quick ? 1 : 5,
      });

      const sizes = quick ? [1000] : [1000, 4000];
      const bursts: Record<string, Record<number, Burst[]>> = Object.fromEntries(names.map((n) => [n, {}]));
      for (const size of sizes) {
        progress(`bursts of ${size} acquirers on ${SESSIONS}`);
        const contestants = Object.fromEntries(
          names.map((name) => [
            name,
            async () => {
              const result = await burst(lender(name), size);
              appendTo(bursts[name]!, size, result);
              return result.perAcquireUs;
            },
          ]),
        );
        await interleave(contestants, { rounds: quick ? 3 : 15, warmup: quick ? 1 : 2 });
        // interleave dropped the warm-up samples from its own output, not from `bursts`: drop them here.
        for (const name of names) bursts[name]![size]!.splice(0, quick ? 1 : 2);
      }

      const subject = 'PyREPL3 SessionPool';
      const anchors = names.filter((name) => name !== subject);
      const comparisons: Comparison[] = [];
      const singleFig = (name: string) => figure(name, single[name] ?? []);
      for (const anchor of anchors) {
        comparisons.push(
          compare('warm acquire+release, one caller (µs per pair; samples are batch means)', 'µs', singleFig(subject), singleFig(anchor), {
            goal: { text: '< 10 µs per acquire+release', test: (s) => s.median < 10 },
          }),
        );
      }
      const main = sizes[0]!;
      const perAcquire = (name: string, size: number) =>
        figure(
          name,
          (bursts[name]?.[size] ?? []).map((b) => b.perAcquireUs),
        );
      const waits = (name: string, size: number, q: number) =>
        figure(
          name,
          (bursts[name]?.[size] ?? []).map((b) => (q >= 1 ? Math.max(...b.waitsMs) : percentile(b.waitsMs, q))),
        );
      for (const anchor of anchors) {
        comparisons.push(
          compare(
            `burst of ${main} on ${SESSIONS}: cost per acquire (wall time / acquirers)`,
            'µs',
            perAcquire(subject, main),
            perAcquire(anchor, main),
          ),
        );
      }
      comparisons.push(
        compare(
          `burst of ${main}: cost per acquire vs one caller (same pool)`,
          'µs',
          perAcquire(subject, main),
          { ...singleFig(subject), label: 'PyREPL3, one caller' },
          {
            goal: ratioAtMost(1.2, 'no more per acquire than one caller (≤ 1.2x, for noise)'),
          },
        ),
      );
      for (const anchor of anchors) {
        comparisons.push(compare(`burst of ${main}: p99 wait (per burst)`, 'ms', waits(subject, main, 0.99), waits(anchor, main, 0.99)));
        comparisons.push(compare(`burst of ${main}: maximum wait (per burst)`, 'ms', waits(subject, main, 1), waits(anchor, main, 1)));
      }
      const notes = [
        `Trivial resources for generic-pool and tarn (an empty object); ${SESSIONS} live Python sessions for PyREPL3 (acquire and release never reach Python).`,
        "A burst: every acquirer calls acquire() in the same tick and releases as soon as it is granted; FIFO order means the maximum wait is about the burst's wall time.",
      ];
      if (sizes.length > 1) {
        const big = sizes[sizes.length - 1]!;
        comparisons.push(
          compare(
            `burst of ${big} vs burst of ${main}: cost per acquire (O(queue) check)`,
            'µs',
            perAcquire(subject, big),
            { ...perAcquire(subject, main), label: `PyREPL3, burst of ${main}` },
            {
              goal: ratioAtMost(1.2, 'flat: no O(queue) work per event (≤ 1.2x)'),
            },
          ),
        );
        for (const anchor of anchors) {
          notes.push(
            `${anchor}: burst of ${big} costs ${(median(perAcquire(anchor, big).samples) / median(perAcquire(anchor, main).samples)).toFixed(2)}x per acquire what a burst of ${main} does.`,
          );
        }
      }
      return { comparisons, notes };
    } finally {
      await Promise.all(Object.values(lenders).map((l) => l.close()));
    }
  },
};
