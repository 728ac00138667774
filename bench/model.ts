import type { Summary } from './stats.js';

/** The figures of one contestant: its summary and raw samples. */
export interface Figure {
  label: string;
  /** Which Python ran it, when one did. */
  python?: string;
  summary: Summary;
  samples: number[];
}

/**
 * One line of a row: PyREPL3's figure beside one anchor's, and their ratio (subject / anchor).
 * A missing figure is null with the reason in `unavailable`.
 */
export interface Comparison {
  measure: string;
  unit: string;
  /** True when a smaller figure is better (latencies); false for rates. */
  lowerIsBetter: boolean;
  subject: Figure | null;
  anchor: Figure | null;
  /** subject.median / anchor.median; null if either is missing. */
  ratio: number | null;
  goal?: { text: string; met: boolean | null };
  unavailable?: string;
}

export interface RowResult {
  id: number;
  key: string;
  title: string;
  comparisons: Comparison[];
  notes: string[];
  /** Set when the whole row could not run. */
  unavailable?: string;
  durationMs: number;
}

export interface RunContext {
  quick: boolean;
  /** The real executable behind `python3` on PATH (the pool's default). */
  python: string;
  /** /usr/bin/python3 when it has ipykernel and jupyter_client; otherwise null and why. */
  jupyter: { python: string } | { python: null; reason: string };
  progress: (message: string) => void;
}

export interface Row {
  id: number;
  key: string;
  title: string;
  run(context: RunContext): Promise<Omit<RowResult, 'id' | 'key' | 'title' | 'durationMs'>>;
}
