import { InvalidOptionError } from './errors.js';

/**
 * Throws InvalidOptionError for the first key of `object` that is not in `known`, naming it with
 * `prefix` (`limits.`) and, when one is close, the option that was probably meant: a typo is found
 * at once instead of being silently ignored.
 */
export function rejectUnknownKeys(object: object, known: readonly string[], prefix = ''): void {
  for (const key of Object.keys(object)) {
    if (known.includes(key)) continue;
    const meant = closest(key, known);
    throw new InvalidOptionError(`${prefix}${key} is not an option${meant === null ? '' : `; did you mean ${prefix}${meant}?`}`);
  }
}

/**
 * The known key nearest to `key` (ignoring case), if it is near enough to be a typo of it: an edit
 * for every three letters of the longer name, two at most (`maxSession`, `minidle`, `grace` for
 * `graceMs`; not `env` for `spawn`).
 */
function closest(key: string, known: readonly string[]): string | null {
  let best: string | null = null;
  let bestDistance = Infinity;
  for (const candidate of known) {
    const distance = editDistance(key.toLowerCase(), candidate.toLowerCase());
    const allowed = Math.min(2, Math.floor(Math.max(key.length, candidate.length) / 3));
    if (distance <= allowed && distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

/** Levenshtein distance: insertions, deletions and substitutions. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length]!;
}
