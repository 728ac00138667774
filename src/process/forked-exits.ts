import { readFileSync } from 'node:fs';
import type { WorkerExit } from './launch.js';

/** A child whose template is gone is checked this often. */
const ORPHAN_PROBE_MS = 50;

/**
 * Who tells the host that a forked child has exited. The host is not its parent: the template that
 * forked it reaps it and reports the exit. If that template is gone (a later one cannot report
 * it), the child's closed socket starts a watch that asks the OS instead.
 */
export class ForkedExits {
  readonly #listeners = new Map<number, (exit: WorkerExit) => void>();
  /** Exits reported before anyone listened (a child can die between fork and hand-over). */
  readonly #early = new Map<number, WorkerExit>();
  /** The template each live child was forked from. */
  readonly #parentOf = new Map<number, object>();

  constructor(private readonly currentTemplate: () => object | null) {}

  forked(pid: number, template: object): void {
    this.#parentOf.set(pid, template);
  }

  onExit(pid: number, listener: (exit: WorkerExit) => void): void {
    const early = this.#early.get(pid);
    if (early === undefined) return void this.#listeners.set(pid, listener);
    this.#early.delete(pid);
    listener(early);
  }

  /** The template reaped `pid`. */
  exited(pid: number, exit: WorkerExit): void {
    const listener = this.#listeners.get(pid);
    this.#listeners.delete(pid);
    this.#parentOf.delete(pid);
    if (listener !== undefined) listener(exit);
    else this.#early.set(pid, exit);
  }

  /** No one will ever listen for `pid` (a spare that was let go): keep nothing about it. */
  forget(pid: number): void {
    this.#listeners.delete(pid);
    this.#early.delete(pid);
    this.#parentOf.delete(pid);
  }

  /** The child's socket closed: its exit report follows, unless its template is gone. */
  watch(pid: number): void {
    const probe = setInterval(() => {
      if (!this.#listeners.has(pid)) return clearInterval(probe);
      if (this.#parentOf.get(pid) === this.currentTemplate()) return;
      if (isGone(pid)) {
        clearInterval(probe);
        this.exited(pid, { exitCode: null, signal: null });
      }
    }, ORPHAN_PROBE_MS);
    probe.unref();
  }
}

/** True once a process no longer runs. A zombie waiting for a reaper that is not us counts as gone. */
export function isGone(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.charAt(stat.lastIndexOf(')') + 2);
    return state === 'Z' || state === 'X';
  } catch {
    // No /proc entry (or no /proc at all): ask the OS directly.
    try {
      process.kill(pid, 0);
      return false;
    } catch {
      return true;
    }
  }
}
