import { readFileSync } from 'node:fs';
import { constants } from 'node:os';
import type { DeathCause } from '../../machines/session.types.js';
import type { SessionCgroup } from './cgroups.js';

type OverLimit = Extract<DeathCause, { kind: 'oom' | 'cpuLimit' }>;

/** How often a session's CPU time, all processes together, is checked against limits.cpuSeconds. */
const CPU_CHECK_MS = 250;

/**
 * The host's hold on one sandboxed session. Its process tree is monitor → init (pid 1 of the
 * session's PID namespace) → worker; the host started the monitor (bubblewrap, or a child of the
 * fork template) and finds the other two under it once the worker has said hello. Killing the
 * init ends every process of the namespace, setsid'd or not, and the monitor exits only after.
 */
export class Containment {
  #monitorPid: number | undefined;
  #initPid: number | undefined;
  #workerPid: number | undefined;
  #cpuCheck: NodeJS.Timeout | undefined;
  #overLimit: OverLimit | undefined;

  constructor(
    private readonly cgroup: SessionCgroup | null,
    private readonly cpuSeconds: number | undefined,
  ) {}

  /** The worker's host pid, once admitted. */
  get workerPid(): number | undefined {
    return this.#workerPid;
  }

  /** Finds the worker under `monitorPid` and moves it into the session's cgroup, before any user code runs. */
  async admit(monitorPid: number): Promise<number> {
    this.#monitorPid = monitorPid;
    this.#initPid = onlyChild(monitorPid);
    this.#workerPid = onlyChild(this.#initPid);
    await this.cgroup?.attach(this.#workerPid);
    if (this.cpuSeconds !== undefined && this.cgroup?.cpuSeconds() != null) this.#watchCpu(this.cgroup, this.cpuSeconds);
    return this.#workerPid;
  }

  /** Signals the worker's process group (an interrupt reaches the children user code started). */
  signal(signal: NodeJS.Signals): void {
    if (this.#workerPid !== undefined) sendSignal(-this.#workerPid, signal);
  }

  /** Ends every process of the session. */
  kill(): void {
    this.cgroup?.kill();
    // Before admission only the monitor is known; its children die with it (parent-death signal).
    sendSignal(this.#initPid ?? this.#monitorPid, 'SIGKILL');
  }

  /** Once the monitor has exited: what the cgroup says of the death, and the cgroup gone. */
  async end(): Promise<OverLimit | undefined> {
    clearInterval(this.#cpuCheck);
    if (this.#overLimit === undefined && (await this.cgroup?.oomKilled())) this.#overLimit = { kind: 'oom' };
    await this.cgroup?.remove();
    return this.#overLimit;
  }

  #watchCpu(cgroup: SessionCgroup, limit: number): void {
    this.#cpuCheck = setInterval(() => {
      if ((cgroup.cpuSeconds() ?? 0) <= limit) return;
      this.#overLimit = { kind: 'cpuLimit', cpuSeconds: limit };
      clearInterval(this.#cpuCheck);
      this.kill();
    }, CPU_CHECK_MS);
    this.#cpuCheck.unref();
  }
}

/** The sandbox's monitor and init exit as a shell does: 128 + N for a death by signal N. */
export function decodeSandboxExit(exitCode: number | null, signal: string | null): { exitCode: number | null; signal: string | null } {
  if (exitCode === null || exitCode <= 128) return { exitCode, signal };
  const name = Object.entries(constants.signals).find(([, number]) => number === exitCode - 128)?.[0];
  return name === undefined ? { exitCode, signal } : { exitCode: null, signal: name };
}

function onlyChild(pid: number): number {
  const children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
  if (children.length !== 1) throw new Error(`expected one child of process ${pid} in the sandbox, found ${children.length}`);
  return Number(children[0]);
}

function sendSignal(pid: number | undefined, signal: NodeJS.Signals): void {
  if (pid === undefined) return;
  try {
    process.kill(pid, signal);
  } catch {
    // Already gone.
  }
}
