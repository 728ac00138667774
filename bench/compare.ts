import type { Comparison, Figure } from './model.js';
import { ratio, summarize, type Summary } from './stats.js';

export function figure(label: string, samples: number[], python?: string): Figure {
  return { label, ...(python !== undefined ? { python } : {}), summary: summarize(samples), samples };
}

export interface Goal {
  text: string;
  /** Judged on the subject's summary and the ratio (null when the anchor is missing). */
  test: (subject: Summary, ratio: number | null) => boolean | null;
}

/** A goal on the ratio of medians: met when ratio <= limit. */
export function ratioAtMost(limit: number, text: string): Goal {
  return { text, test: (_subject, r) => (r === null ? null : r <= limit) };
}

/** A goal on the ratio of medians: met when ratio >= limit. */
export function ratioAtLeast(limit: number, text: string): Goal {
  return { text, test: (_subject, r) => (r === null ? null : r >= limit) };
}

/** A goal on the subject's own median: met when it is <= limit (in the comparison's unit). */
export function medianAtMost(limit: number, text: string): Goal {
  return { text, test: (subject) => subject.median <= limit };
}

/** A line of a row: PyREPL3's figure beside an anchor's, with the ratio of their medians. */
export function compare(
  measure: string,
  unit: string,
  subject: Figure | null,
  anchor: Figure | null,
  options: { lowerIsBetter?: boolean; goal?: Goal; unavailable?: string } = {},
): Comparison {
  const raw = subject !== null && anchor !== null ? ratio(subject.summary.median, anchor.summary.median) : null;
  const r = raw !== null && Number.isFinite(raw) ? raw : null;
  const met = subject !== null && options.goal ? options.goal.test(subject.summary, r) : null;
  return {
    measure,
    unit,
    lowerIsBetter: options.lowerIsBetter ?? true,
    subject,
    anchor,
    ratio: r,
    ...(options.goal ? { goal: { text: options.goal.text, met } } : {}),
    ...(options.unavailable !== undefined ? { unavailable: options.unavailable } : {}),
  };
}
