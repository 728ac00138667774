/** One cell of a kernel's history: [session, line, input] or [session, line, [input, output]]. */
export type HistoryEntry = [number, number, string] | [number, number, [string, string | null]];

interface Cell {
  session: number;
  line: number;
  input: string;
  output: string | null;
}

/** Cells kept for history_request; the oldest go first beyond this many. */
const MAX_CELLS = 1000;

/**
 * A kernel's input history, kept by the service rather than the session: it answers the `tail`
 * and `range` requests of the protocol (search is not supported and answers nothing). A restart
 * starts a new history session, as IPython numbers them.
 */
export class History {
  #cells: Cell[] = [];
  #session = 1;

  newSession(): void {
    this.#session += 1;
  }

  add(line: number, input: string, output: string | null): void {
    this.#cells.push({ session: this.#session, line, input, output });
    if (this.#cells.length > MAX_CELLS) this.#cells.shift();
  }

  /** The answer to a history_request's content. */
  query(content: Record<string, unknown>): HistoryEntry[] {
    const withOutput = content.output === true;
    const cells = this.#select(content);
    return cells.map((cell) => (withOutput ? [cell.session, cell.line, [cell.input, cell.output]] : [cell.session, cell.line, cell.input]));
  }

  #select(content: Record<string, unknown>): Cell[] {
    if (content.hist_access_type === 'tail') {
      const n = typeof content.n === 'number' ? content.n : 10;
      return n > 0 ? this.#cells.slice(-n) : [];
    }
    if (content.hist_access_type === 'range') {
      const session = typeof content.session === 'number' && content.session > 0 ? content.session : this.#session;
      const start = typeof content.start === 'number' ? content.start : 0;
      const stop = typeof content.stop === 'number' ? content.stop : Infinity;
      return this.#cells.filter((cell) => cell.session === session && cell.line >= start && cell.line < stop);
    }
    return [];
  }
}
