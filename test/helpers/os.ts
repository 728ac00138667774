import { readdirSync, readFileSync, type Dirent } from 'node:fs';

/** Pids of live processes whose command line mentions `marker`, asked of the OS, not of the pool. */
export function processesMentioning(marker: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    if (commandLine(Number(entry)).includes(marker) && isAlive(Number(entry))) pids.push(Number(entry));
  }
  return pids;
}

/** The process's arguments joined with spaces, as ps shows them; empty once it has exited. */
export function commandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
  } catch {
    return '';
  }
}

/**
 * Whether a process still runs. A zombie does not: it has exited and only waits to be reaped by a
 * parent that may not be ours (an orphan's is init).
 */
export function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.charAt(stat.lastIndexOf(')') + 2);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

/** The process's name (/proc/PID/comm), as ps shows it. */
export function processName(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '';
  }
}

/** Cgroup folders named `name` anywhere under /sys/fs/cgroup (a pool's are named by its id), asked of the kernel. */
export function cgroupsNamed(name: string, root = '/sys/fs/cgroup', depth = 6): string[] {
  if (depth === 0) return [];
  const found: string[] = [];
  let entries: Dirent[];
  try {
    entries = readdirSync(root, { withFileTypes: true });
  } catch {
    return [];
  }
  for (const entry of entries) {
    if (!entry.isDirectory()) continue;
    const path = `${root}/${entry.name}`;
    if (entry.name === name) found.push(path);
    else found.push(...cgroupsNamed(name, path, depth - 1));
  }
  return found;
}
