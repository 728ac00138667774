import { InvalidOptionError } from '../errors.js';
import { rejectUnknownKeys } from '../known-keys.js';

/** A host path made visible inside every session's sandbox. */
export interface SandboxBind {
  /** The host path. */
  path: string;
  /** Where sessions see it. Default: the same path. */
  target?: string;
  /** Default false: read-only. A writable bind must be writable by the session's unprivileged uid. */
  writable?: boolean;
}

/** `sandbox: true` is `{}`: no network, no binds beyond what Python needs. */
export interface SandboxOptions {
  /** Share the host's network. Default false: the session has a loopback of its own and nothing else. */
  network?: boolean;
  binds?: SandboxBind[];
  /**
   * The cgroup under which sessions get their own: a cgroup v2 directory delegated to this host
   * process, or, on cgroup v1, a path relative to each controller's mount. Default: `pyrepl3` under
   * each mount (needs root).
   */
  cgroupRoot?: string;
  /**
   * Fail start() with SandboxUnavailableError unless every session gets cgroups for memory, pids and
   * cpu. Default false: the pool warns (event `sandboxWarning`) and keeps per-process rlimits.
   */
  requireCgroups?: boolean;
}

export interface SandboxSettings {
  network: boolean;
  binds: Array<Required<SandboxBind>>;
  cgroupRoot: string | null;
  requireCgroups: boolean;
}

export function sandboxSettings(option: boolean | SandboxOptions | undefined): SandboxSettings | null {
  if (option === undefined || option === false) return null;
  if (option === true) return { network: false, binds: [], cgroupRoot: null, requireCgroups: false };
  if (typeof option !== 'object' || option === null) throw new InvalidOptionError('sandbox must be a boolean or an object');
  rejectUnknownKeys(option, ['network', 'binds', 'cgroupRoot', 'requireCgroups'] satisfies Array<keyof SandboxOptions>, 'sandbox.');
  if (option.binds !== undefined && !Array.isArray(option.binds)) throw new InvalidOptionError('sandbox.binds must be an array');
  for (const flag of ['network', 'requireCgroups'] as const) {
    if (option[flag] !== undefined && typeof option[flag] !== 'boolean') throw new InvalidOptionError(`sandbox.${flag} must be a boolean`);
  }
  if (option.cgroupRoot !== undefined && (typeof option.cgroupRoot !== 'string' || option.cgroupRoot === '')) {
    throw new InvalidOptionError('sandbox.cgroupRoot must be a non-empty path');
  }
  return {
    network: option.network ?? false,
    binds: (option.binds ?? []).map(checkBind),
    cgroupRoot: option.cgroupRoot ?? null,
    requireCgroups: option.requireCgroups ?? false,
  };
}

function checkBind(bind: SandboxBind, index: number): Required<SandboxBind> {
  const where = `sandbox.binds[${index}]`;
  if (typeof bind !== 'object' || bind === null) throw new InvalidOptionError(`${where} must be an object`);
  rejectUnknownKeys(bind, ['path', 'target', 'writable'] satisfies Array<keyof SandboxBind>, `${where}.`);
  const target = bind.target ?? bind.path;
  for (const [name, value] of [
    ['path', bind.path],
    ['target', target],
  ] as const) {
    if (typeof value !== 'string' || !value.startsWith('/') || value.split('/').includes('..')) {
      throw new InvalidOptionError(`${where}.${name} must be an absolute path without '..', got ${String(value)}`);
    }
  }
  if (bind.writable !== undefined && typeof bind.writable !== 'boolean')
    throw new InvalidOptionError(`${where}.writable must be a boolean`);
  return { path: bind.path, target, writable: bind.writable ?? false };
}
