import { readFile } from 'node:fs/promises';

export interface ProcessMemory {
  rssKiB: number;
  pssKiB: number;
  ussKiB: number;
}

/** Resident, proportional and unique set sizes of a process, from /proc/<pid>/smaps_rollup. */
export async function processMemory(pid: number): Promise<ProcessMemory> {
  const text = await readFile(`/proc/${pid}/smaps_rollup`, 'utf8');
  const field = (name: string): number => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? Number.NaN);
  return {
    rssKiB: field('Rss'),
    pssKiB: field('Pss'),
    ussKiB: field('Private_Clean') + field('Private_Dirty'),
  };
}
