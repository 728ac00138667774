/**
 * Splits a stream of text into lines. A line longer than `maxLineLength` is a protocol error:
 * the host never buffers an unbounded amount of what a process writes.
 */
export class LineReader {
  #partial = '';

  constructor(
    private readonly maxLineLength: number,
    private readonly onLine: (line: string) => void,
    private readonly onOverflow: () => void,
  ) {}

  push(text: string): void {
    let start = 0;
    let newline = text.indexOf('\n');
    while (newline !== -1) {
      const line = this.#partial + text.slice(start, newline);
      this.#partial = '';
      this.onLine(line);
      start = newline + 1;
      newline = text.indexOf('\n', start);
    }
    this.#partial += text.slice(start);
    if (this.#partial.length > this.maxLineLength) {
      this.#partial = '';
      this.onOverflow();
    }
  }
}
