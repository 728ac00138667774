import { readdirSync, readFileSync } from 'node:fs';
import { constants } from 'node:os';
import { isGone } from '../process/forked-exits.js';
import type { DeathCause } from '../../machines/session.types.js';
import type { SessionCgroup } from './cgroups.js';

type OverLimit = Extract<DeathCause, { kind: 'oom' | 'cpuLimit' }>;

/** How often a session's cgroup is checked for an OOM kill and for CPU time past limits.cpuSeconds. */
const LIMIT_CHECK_MS = 250;

/** How long a sandbox may take to show its worker under its monitor before admission gives up. */
const WORKER_VISIBLE_MS = 5_000;

/**
 * The host's hold on one sandboxed session. Its process tree is monitor → init (pid 1 of the
 * session's PID namespace) → worker; the host started the monitor (bubblewrap, or a child of the
 * fork template) and finds the other two under it as soon as the worker exists. Killing the
 * init ends every process of the namespace, setsid'd or not, and the monitor exits only after.
 */
export class Containment {
  #monitorPid: number | undefined;
  #initPid: number | undefined;
  #workerPid: number | undefined;
  #limitCheck: NodeJS.Timeout | undefined;
  #overLimit: OverLimit | undefined;
  #cgroup: SessionCgroup | null = null;
  /** Set when the monitor was killed before its init was known: the init may outlive it. */
  #strays: string | undefined;
  #marker: string | undefined;
  #admission: Promise<number> | undefined;

  /** `cgroup` is still being made while the sandbox starts: it is needed only at admission. */
  constructor(
    private readonly cgroupMade: Promise<SessionCgroup | null>,
    private readonly cpuSeconds: number | undefined,
  ) {
    cgroupMade.catch(() => undefined); // its failure is reported by admit()
  }

  /** A hold on a sandbox that has no cgroup of its own: enough to end it. */
  static around(monitorPid: number): Containment {
    return new Containment(Promise.resolve(null), undefined).launched(monitorPid);
  }

  /** The worker's host pid, once admitted. */
  get workerPid(): number | undefined {
    return this.#workerPid;
  }

  /**
   * The sandbox's monitor has started: from now on kill() reaches the session. `marker` is a string
   * only this sandbox's command lines hold (exec mode), to find its processes if they outlive the monitor.
   */
  launched(monitorPid: number | undefined, marker?: string): this {
    this.#monitorPid = monitorPid;
    this.#marker = marker;
    return this;
  }

  /**
   * Starts admission as soon as the worker exists, while its interpreter is still starting: moving a
   * process between cgroups waits for the kernel (about 10 ms here), which then costs the session
   * nothing. No user code runs before the worker says hello, and admit() waits for this to finish.
   */
  admitEarly(): this {
    this.#admission ??= this.#admitWhenVisible();
    this.#admission.catch(() => undefined); // reported by admit()
    return this;
  }

  /** Finds the worker under the monitor and moves it into the session's cgroup, before any user code runs. */
  admit(): Promise<number> {
    this.#admission ??= this.#admitNow();
    return this.#admission;
  }

  async #admitWhenVisible(): Promise<number> {
    const monitor = this.#monitorPid;
    if (monitor === undefined) throw new Error('the sandbox has no monitor process');
    const deadline = Date.now() + WORKER_VISIBLE_MS;
    for (;;) {
      const init = children(monitor)[0];
      if (init !== undefined && children(init).length === 1) return this.#admitNow();
      if (Date.now() > deadline) throw new Error(`the sandbox did not start its worker within ${WORKER_VISIBLE_MS} ms`);
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
  }

  async #admitNow(): Promise<number> {
    if (this.#monitorPid === undefined) throw new Error('the sandbox has no monitor process');
    this.#initPid = onlyChild(this.#monitorPid);
    this.#workerPid = onlyChild(this.#initPid);
    this.#cgroup = await this.cgroupMade;
    if (this.#cgroup !== null) {
      await this.#cgroup.attach(this.#workerPid);
      this.#watchLimits();
    }
    return this.#workerPid;
  }

  /** Signals the worker's process group (an interrupt reaches the children user code started). */
  signal(signal: NodeJS.Signals): void {
    if (this.#workerPid !== undefined) sendSignal(-this.#workerPid, signal);
  }

  /**
   * Ends every process of the session. Killing the init ends its namespace; the monitor exits only
   * after that, so its exit means all are gone. Before the init exists, only the monitor is there to kill.
   */
  kill(): void {
    this.#cgroup?.kill();
    this.#initPid ??= this.#monitorPid === undefined ? undefined : children(this.#monitorPid)[0];
    if (this.#initPid === undefined) this.#strays = this.#marker;
    sendSignal(this.#initPid ?? this.#monitorPid, 'SIGKILL');
  }

  /** Once the monitor has exited: what the cgroup says of the death, and the cgroup gone. */
  async end(): Promise<OverLimit | undefined> {
    clearInterval(this.#limitCheck);
    if (this.#strays !== undefined) await endStrays(this.#strays);
    this.#overLimit ??= this.#limitPassed();
    await (await this.cgroupMade.catch(() => null))?.remove();
    return this.#overLimit;
  }

  /**
   * A session over a whole-session limit dies whole, as a pod does: the kernel's OOM killer picks
   * one process, and the rest of the session goes with it rather than run on without it.
   */
  #watchLimits(): void {
    this.#limitCheck = setInterval(() => {
      this.#overLimit = this.#limitPassed();
      if (this.#overLimit === undefined) return;
      clearInterval(this.#limitCheck);
      this.kill();
    }, LIMIT_CHECK_MS);
    this.#limitCheck.unref();
  }

  #limitPassed(): OverLimit | undefined {
    if (this.#cgroup?.oomKilled()) return { kind: 'oom' };
    const used = this.cpuSeconds === undefined ? null : this.#cgroup?.cpuSeconds();
    if (used != null && used > this.cpuSeconds!) return { kind: 'cpuLimit', cpuSeconds: this.cpuSeconds! };
    return undefined;
  }
}

/** The sandbox's monitor and init exit as a shell does: 128 + N for a death by signal N. */
export function decodeSandboxExit(exitCode: number | null, signal: string | null): { exitCode: number | null; signal: string | null } {
  if (exitCode === null || exitCode <= 128) return { exitCode, signal };
  const name = Object.entries(constants.signals).find(([, number]) => number === exitCode - 128)?.[0];
  return name === undefined ? { exitCode, signal } : { exitCode: null, signal: name };
}

function onlyChild(pid: number): number {
  const found = children(pid);
  if (found.length !== 1) throw new Error(`expected one child of process ${pid} in the sandbox, found ${found.length}`);
  return found[0]!;
}

function children(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/**
 * A monitor killed before it started its init leaves an init that dies only by its parent-death
 * signal, a moment later: find it and its worker by `marker`, and wait until they are gone.
 */
async function endStrays(marker: string): Promise<void> {
  for (let attempt = 0; attempt < 400; attempt++) {
    const strays = processesHolding(marker);
    if (strays.length === 0) return;
    for (const pid of strays) sendSignal(pid, 'SIGKILL');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

function processesHolding(marker: string): number[] {
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .map(Number)
    .filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(marker) && !isGone(pid);
      } catch {
        return false;
      }
    });
}

function sendSignal(pid: number | undefined, signal: NodeJS.Signals): void {
  if (pid === undefined) return;
  try {
    process.kill(pid, signal);
  } catch {
    // Already gone.
  }
}
