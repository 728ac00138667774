import { randomInt, randomUUID } from 'node:crypto';
import { SandboxUnavailableError } from '../errors.js';
import type { SessionLimits } from '../options.js';
import { interpreterFolders, resolveInterpreter } from '../process/interpreter.js';
import { WORKER_DIR } from '../python/worker-path.js';
import { bwrapArguments } from './bwrap.js';
import { PoolCgroups } from './cgroups.js';
import { Containment } from './containment.js';
import type { SandboxSettings } from './options.js';
import { basePlan, type SandboxPlan } from './plan.js';
import { sandboxGaps, type HostReport } from './probe.js';

/** Sessions of a root host run as uids from this range, each its own; never 0. */
const UID_BASE = 1_800_000_000;
const UID_SPAN = 1 << 24;

/**
 * One pool's sandbox: checked once against the host (failing closed), then the source of every
 * session's plan, bubblewrap command and containment.
 */
export class SandboxHost {
  #nextUid = randomInt(UID_SPAN);

  private constructor(
    private readonly base: SandboxPlan,
    private readonly asRoot: boolean,
    private readonly cgroups: PoolCgroups,
    private readonly limits: SessionLimits,
    readonly bwrap: string,
  ) {}

  /** Rejects with SandboxUnavailableError when the host lacks what a sandbox needs. */
  static async prepare(
    settings: SandboxSettings,
    poolId: string,
    pythonPath: string,
    limits: SessionLimits,
    report: HostReport,
  ): Promise<SandboxHost> {
    const { missing, hints } = sandboxGaps(report);
    if (missing.length > 0 || report.bwrap === null) throw new SandboxUnavailableError(missing, hints);
    const executable = await resolveInterpreter(pythonPath);
    const folders = await interpreterFolders(executable, WORKER_DIR);
    const cgroups = await PoolCgroups.create(poolId, settings.cgroupRoot, report.cgroups);
    if (settings.requireCgroups && cgroups.missing.length > 0) {
      await cgroups.remove();
      throw new SandboxUnavailableError(
        [`cgroups for ${cgroups.missing.join(', ')}`],
        [
          'Run as root, or delegate a cgroup v2 subtree to this process (systemd: Delegate=yes) and pass its path as sandbox.cgroupRoot (serve: --cgroup-root).',
        ],
      );
    }
    const plan = basePlan(settings, folders, WORKER_DIR, limits.diskBytes ?? null);
    return new SandboxHost(plan, report.uid === 0, cgroups, limits, report.bwrap);
  }

  /** Controllers no cgroup could be made for: their limits then hold per process only (rlimits). */
  get missingControllers(): string[] {
    return this.cgroups.missing;
  }

  /** A session's plan: the pool's, with an unprivileged uid of its own (the host's, when it is not root). */
  plan(): SandboxPlan {
    const uid = this.asRoot ? UID_BASE + (this.#nextUid++ % UID_SPAN) : process.getuid!();
    const gid = this.asRoot ? uid : process.getgid!();
    return { ...this.base, id: randomUUID(), uid, gid };
  }

  /**
   * The worker's config in a sandbox: its folder is the session's tmpfs, and the limits that a
   * cgroup or the tmpfs holds for the whole session are not also set per process.
   */
  workerConfig(config: Record<string, unknown> & { limits?: SessionLimits }): Record<string, unknown> {
    const limits: SessionLimits = { ...config.limits };
    delete limits.diskBytes;
    if (!this.cgroups.missing.includes('memory')) delete limits.memoryBytes;
    if (!this.cgroups.missing.includes('pids')) delete limits.maxProcesses;
    return { ...config, limits, cwd: this.base.workdir };
  }

  /** bubblewrap's arguments for an exec'd session with `plan`; the interpreter's command follows them. */
  bwrapArguments(plan: SandboxPlan): string[] {
    return bwrapArguments(plan, this.asRoot);
  }

  /** A session's hold: its own cgroup (being made from now on), and its limits that hold for all its processes. */
  contain(): Containment {
    const { memoryBytes, maxProcesses, cpuSeconds } = this.limits;
    const cgroup = this.cgroups.placements.length > 0 ? this.cgroups.session({ memoryBytes, maxProcesses }) : Promise.resolve(null);
    return new Containment(cgroup, cpuSeconds);
  }

  async close(): Promise<void> {
    await this.cgroups.remove();
  }
}
