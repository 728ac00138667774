import { randomUUID } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { mkdir, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { readText } from './read-text.js';

/** What a session's cgroups are asked to hold, for all its processes together. */
export interface CgroupLimits {
  memoryBytes?: number | undefined;
  maxProcesses?: number | undefined;
}

/** cpuacct only counts CPU time, on v1; cgroup v2 counts it in every cgroup (cpu.stat). */
type Controller = 'memory' | 'pids' | 'cpu' | 'cpuacct';
const REQUIRED: Controller[] = ['memory', 'pids', 'cpu'];

/** One mounted hierarchy and the controllers it carries (none, on a v2 mount kept for cgroup.kill). */
export interface Hierarchy {
  version: 1 | 2;
  mount: string;
  controllers: string[];
}

/** Where each job is done: the directory under which this pool's sessions get their cgroups. */
interface Placement {
  version: 1 | 2;
  poolDir: string;
  controllers: Controller[];
}

/** The cgroup hierarchies of this host, from /proc/self/mounts. */
export function findHierarchies(mounts = readFileSync('/proc/self/mounts', 'utf8')): Hierarchy[] {
  const found: Hierarchy[] = [];
  for (const line of mounts.split('\n')) {
    const [, mount, type, options] = line.split(' ');
    if (mount === undefined || options === undefined) continue;
    if (type === 'cgroup2') found.push({ version: 2, mount, controllers: readWords(join(mount, 'cgroup.controllers')) });
    const controllers = options.split(',').filter((o) => ['cpuacct', ...REQUIRED].includes(o));
    if (type === 'cgroup' && controllers.length > 0) found.push({ version: 1, mount, controllers });
  }
  return found;
}

/** This process's own cgroup in a hierarchy (from /proc/self/cgroup), so sessions nest under the host's limits. */
function ownCgroup(hierarchy: Hierarchy): string {
  for (const line of readFileSync('/proc/self/cgroup', 'utf8').split('\n')) {
    const [id, controllers, path] = line.split(':');
    if (path === undefined) continue;
    const matches = hierarchy.version === 2 ? id === '0' : controllers!.split(',').some((c) => hierarchy.controllers.includes(c));
    if (matches) return path;
  }
  return '/';
}

function readWords(path: string): string[] {
  return readText(path).trim().split(/\s+/).filter(Boolean);
}

/**
 * The cgroups of one pool: a directory per hierarchy, under which each session gets its own. The
 * memory, pids and cpu controllers come from cgroup v2 where it has them, else from v1; a v2
 * hierarchy, even one without controllers, gives cgroup.kill and cpu.stat.
 */
export class PoolCgroups {
  private constructor(
    readonly placements: Placement[],
    /** Controllers that no hierarchy could give this pool. */
    readonly missing: string[],
  ) {}

  static async create(poolId: string, cgroupRoot: string | null, hierarchies = findHierarchies()): Promise<PoolCgroups> {
    const placements: Placement[] = [];
    const v2 = hierarchies.find((h) => h.version === 2);
    const provider = (controller: Controller): Hierarchy | undefined =>
      v2?.controllers.includes(controller) ? v2 : hierarchies.find((h) => h.version === 1 && h.controllers.includes(controller));
    const users = new Map<Hierarchy, Controller[]>();
    if (v2 !== undefined) users.set(v2, []);
    for (const controller of v2 === undefined ? [...REQUIRED, 'cpuacct' as const] : REQUIRED) {
      const hierarchy = provider(controller);
      if (hierarchy !== undefined) users.set(hierarchy, [...(users.get(hierarchy) ?? []), controller]);
    }
    const missing = new Set<Controller>(REQUIRED);
    for (const [hierarchy, controllers] of users) {
      const base = join(hierarchy.mount, cgroupRoot ?? join(ownCgroup(hierarchy), 'pyrepl3'));
      const poolDir = join(base, poolId);
      try {
        await mkdir(poolDir, { recursive: true });
        if (hierarchy.version === 2) await enableControllers([join(base, '..'), base, poolDir], controllers);
        const usable =
          hierarchy.version === 2 ? controllers.filter((c) => readWords(join(poolDir, 'cgroup.controllers')).includes(c)) : controllers;
        placements.push({ version: hierarchy.version, poolDir, controllers: usable });
        for (const controller of usable) missing.delete(controller);
      } catch {
        // Not ours to create (no root, no delegation): the controllers count as missing.
      }
    }
    return new PoolCgroups(placements, [...missing]);
  }

  /** A new cgroup for one session, with its limits set, empty until a process is attached. */
  async session(limits: CgroupLimits): Promise<SessionCgroup> {
    const key = `s-${randomUUID()}`;
    const dirs = this.placements.map((p) => ({ ...p, dir: join(p.poolDir, key) }));
    await Promise.all(dirs.map((d) => mkdir(d.dir)));
    const cgroup = new SessionCgroup(dirs);
    await cgroup.limit(limits);
    return cgroup;
  }

  async remove(): Promise<void> {
    await Promise.all(this.placements.map((p) => rmdir(p.poolDir).catch(() => undefined)));
  }
}

interface SessionDir extends Placement {
  dir: string;
}

/** One session's cgroups: every process it starts stays in them, and they all go together. */
export class SessionCgroup {
  constructor(private readonly dirs: SessionDir[]) {}

  async limit({ memoryBytes, maxProcesses }: CgroupLimits): Promise<void> {
    const writes: Array<Promise<void>> = [];
    for (const { version, dir, controllers } of this.dirs) {
      if (memoryBytes !== undefined && controllers.includes('memory')) {
        if (version === 2)
          writes.push(
            writeFile(join(dir, 'memory.max'), String(memoryBytes)),
            writeFile(join(dir, 'memory.swap.max'), '0').catch(() => undefined),
          );
        else writes.push(writeFile(join(dir, 'memory.limit_in_bytes'), String(memoryBytes)));
      }
      if (maxProcesses !== undefined && controllers.includes('pids')) writes.push(writeFile(join(dir, 'pids.max'), String(maxProcesses)));
    }
    await Promise.all(writes);
  }

  /** Moves a process (and the threads it has) into every cgroup of the session. */
  async attach(pid: number): Promise<void> {
    await Promise.all(this.dirs.map((d) => writeFile(join(d.dir, 'cgroup.procs'), String(pid))));
  }

  /** Kills every process in the session at once, where cgroup v2 can; false where it cannot. */
  kill(): boolean {
    const v2 = this.dirs.find((d) => d.version === 2);
    if (v2 === undefined) return false;
    try {
      writeFileSync(join(v2.dir, 'cgroup.kill'), '1');
      return true;
    } catch {
      return false;
    }
  }

  /** CPU seconds the session's processes have used, all together; null where nothing counts them. */
  cpuSeconds(): number | null {
    const v2 = this.dirs.find((d) => d.version === 2);
    if (v2 !== undefined) {
      const usec = /usage_usec (\d+)/.exec(readText(join(v2.dir, 'cpu.stat')))?.[1];
      return usec === undefined ? null : Number(usec) / 1e6;
    }
    const cpuacct = this.dirs.find((d) => d.controllers.includes('cpuacct'));
    const ns = cpuacct ? readText(join(cpuacct.dir, 'cpuacct.usage')).trim() : '';
    return ns === '' ? null : Number(ns) / 1e9;
  }

  /** Whether the kernel's OOM killer killed a process of this session. */
  oomKilled(): boolean {
    const memory = this.dirs.find((d) => d.controllers.includes('memory'));
    if (memory === undefined) return false;
    const text = readText(join(memory.dir, memory.version === 2 ? 'memory.events' : 'memory.oom_control'));
    return Number(/oom_kill (\d+)/.exec(text)?.[1] ?? 0) > 0;
  }

  /** Removes the session's cgroups; they must be empty (every process gone). */
  async remove(): Promise<void> {
    await Promise.all(this.dirs.map((d) => removeCgroup(d.dir)));
  }
}

/**
 * Removes a cgroup once it is empty. A process killed a moment ago (an OOM kill, cgroup.kill) can
 * still count for a few milliseconds after its sandbox's monitor has exited: rmdir says EBUSY then.
 */
async function removeCgroup(dir: string): Promise<void> {
  for (let attempt = 0; attempt < 200; attempt++) {
    try {
      await rmdir(dir);
      return;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EBUSY') return;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }
}

async function enableControllers(dirs: string[], controllers: Controller[]): Promise<void> {
  for (const dir of dirs) {
    const available = readWords(join(dir, 'cgroup.controllers'));
    const wanted = controllers.filter((c) => available.includes(c));
    if (wanted.length > 0)
      await writeFile(join(dir, 'cgroup.subtree_control'), wanted.map((c) => `+${c}`).join(' ')).catch(() => undefined);
  }
}
