import { readFileSync } from 'node:fs';

/** A kernel interface file's text; '' where it does not exist or cannot be read (an absent feature). */
export function readText(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}
