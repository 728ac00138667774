import { existsSync, lstatSync, readlinkSync } from 'node:fs';
import { SANDBOX_WORKER_DIR } from '../python/worker-path.js';
import type { SandboxSettings } from './options.js';

/**
 * What a session's sandbox holds, as data: the worker carries it out in fork mode
 * (pyrepl3_worker/sandbox.py), bubblewrap in exec mode (bwrap.ts). Both read this one plan, so
 * the two modes give sessions the same file system.
 */
export interface SandboxPlan {
  /** Unique per session: it is on the command lines of an exec'd session's processes. */
  id: string;
  /** The unprivileged host uid and gid the session runs as (the host's own when it is not root). */
  uid: number;
  gid: number;
  network: boolean;
  /** Size of the session's one writable tmpfs; null: the tmpfs default (half of RAM). */
  diskBytes: number | null;
  hostname: string;
  readOnly: Bind[];
  writable: Bind[];
  symlinks: Array<{ path: string; target: string }>;
  devices: string[];
  /** The session's private tmpfs; its folders below become the session user's. */
  sessionRoot: string;
  /**
   * Further private tmpfs (mode 1777, each capped by diskBytes), mounted before the binds: /tmp
   * when something is bound beneath it (the worker of a checkout in /tmp), which a symlink could not hold.
   */
  privateTmpfs: string[];
  writableDirs: string[];
  /** The working folder and HOME. */
  workdir: string;
  /** Where the worker's folder is bound: forked sessions move their package there. */
  workerDir: string;
}

export interface Bind {
  source: string;
  target: string;
}

export const SESSION_ROOT = '/session';
export const SESSION_WORKDIR = `${SESSION_ROOT}/work`;

/** The host's top-level system folders; on merged-/usr hosts most are symlinks into /usr. */
const SYSTEM_FOLDERS = ['/usr', '/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32'];

/** Of /etc, only what the dynamic loader, time zones, TLS and Python's own configuration read. */
const ETC_ENTRIES = [
  '/etc/ld.so.cache',
  '/etc/ld.so.conf',
  '/etc/ld.so.conf.d',
  '/etc/localtime',
  '/etc/timezone',
  '/etc/ssl',
  '/etc/ca-certificates',
  '/etc/pki',
  '/etc/alternatives',
  '/etc/nsswitch.conf',
  '/etc/mime.types',
  '/etc/matplotlibrc',
  '/etc/python3',
  '/etc/fonts',
];

/** Also read for the network, when the session has it. */
const NETWORK_ETC_ENTRIES = ['/etc/resolv.conf', '/etc/hosts', '/etc/host.conf', '/etc/gai.conf', '/etc/services', '/etc/protocols'];

const DEVICES = ['/dev/null', '/dev/zero', '/dev/full', '/dev/random', '/dev/urandom'];

/**
 * The plan every session of a pool shares but for its uid: system folders, the interpreter's
 * folders and the worker's package read-only, the user's binds, and the session's own tmpfs.
 */
export function basePlan(
  settings: SandboxSettings,
  interpreterFolders: string[],
  workerDir: string,
  diskBytes: number | null,
): SandboxPlan {
  const readOnly: Bind[] = [];
  const symlinks: SandboxPlan['symlinks'] = [];
  for (const folder of SYSTEM_FOLDERS) {
    if (!existsSync(folder)) continue;
    if (lstatSync(folder).isSymbolicLink()) symlinks.push({ path: folder, target: readlinkSync(folder) });
    else readOnly.push({ source: folder, target: folder });
  }
  const etc = settings.network ? [...ETC_ENTRIES, ...NETWORK_ETC_ENTRIES] : ETC_ENTRIES;
  for (const path of [...etc, ...interpreterFolders]) {
    if (existsSync(path) && !readOnly.some((bind) => isWithin(path, bind.target))) readOnly.push({ source: path, target: path });
  }
  readOnly.push({ source: workerDir, target: SANDBOX_WORKER_DIR });
  const userBinds = settings.binds.map((b) => ({ source: b.path, target: b.target, writable: b.writable }));
  readOnly.push(...userBinds.filter((b) => !b.writable).map(({ source, target }) => ({ source, target })));
  const bindsUnderTmp = [...readOnly, ...userBinds].some((bind) => isWithin(bind.target, '/tmp'));
  if (!bindsUnderTmp) symlinks.push({ path: '/tmp', target: `${SESSION_ROOT}/tmp` });
  symlinks.push(
    { path: '/dev/shm', target: `${SESSION_ROOT}/shm` },
    { path: '/dev/fd', target: '/proc/self/fd' },
    { path: '/dev/stdin', target: '/proc/self/fd/0' },
    { path: '/dev/stdout', target: '/proc/self/fd/1' },
    { path: '/dev/stderr', target: '/proc/self/fd/2' },
  );
  return {
    id: '',
    uid: 0,
    gid: 0,
    network: settings.network,
    diskBytes,
    hostname: 'pyrepl3',
    readOnly,
    writable: userBinds.filter((b) => b.writable).map(({ source, target }) => ({ source, target })),
    symlinks,
    devices: DEVICES,
    sessionRoot: SESSION_ROOT,
    privateTmpfs: bindsUnderTmp ? ['/tmp'] : [],
    writableDirs: [SESSION_WORKDIR, `${SESSION_ROOT}/tmp`, `${SESSION_ROOT}/shm`],
    workdir: SESSION_WORKDIR,
    workerDir: SANDBOX_WORKER_DIR,
  };
}

function isWithin(path: string, folder: string): boolean {
  return path === folder || path.startsWith(`${folder}/`);
}
