import type { SandboxPlan } from './plan.js';

/** Where a sandboxed exec'd session gets its namespaces and file system: bubblewrap, from the plan. */
export function bwrapArguments(plan: SandboxPlan, asRoot: boolean): string[] {
  const args = [
    '--unshare-ipc',
    '--unshare-pid',
    '--unshare-uts',
    '--unshare-cgroup-try',
    '--die-with-parent',
    '--hostname',
    plan.hostname,
  ];
  // As root bubblewrap needs no user namespace, and the worker drops to plan.uid itself; otherwise
  // the session keeps the host's own unprivileged uid.
  if (!asRoot) args.push('--unshare-user');
  if (!plan.network) args.push('--unshare-net');
  for (const tmpfs of plan.privateTmpfs) args.push(...size(plan), '--perms', '1777', '--tmpfs', tmpfs);
  // Run as root, bubblewrap would make the folders above a bind 0700, which the session's uid cannot cross.
  for (const dir of ancestors([...plan.readOnly, ...plan.writable].map((bind) => bind.target))) args.push('--perms', '0755', '--dir', dir);
  for (const { source, target } of plan.readOnly) args.push('--ro-bind-try', source, target);
  for (const { source, target } of plan.writable) args.push('--bind-try', source, target);
  args.push('--tmpfs', '/dev');
  for (const device of plan.devices) args.push('--dev-bind-try', device, device);
  args.push(...size(plan), '--perms', '0755', '--tmpfs', plan.sessionRoot);
  for (const dir of plan.writableDirs) args.push('--dir', dir);
  for (const { path, target } of plan.symlinks) args.push('--symlink', target, path);
  args.push('--proc', '/proc', '--remount-ro', '/', '--chdir', plan.workdir, '--');
  return args;
}

/** `--size` for the next tmpfs, when disk is limited. */
function size(plan: SandboxPlan): string[] {
  return plan.diskBytes === null ? [] : ['--size', String(plan.diskBytes)];
}

/** Every folder above the given paths, parents first, once each. */
function ancestors(paths: string[]): string[] {
  const folders = new Set<string>();
  for (const path of paths) {
    const parts = path.split('/').filter(Boolean);
    for (let depth = 1; depth < parts.length; depth++) folders.add(`/${parts.slice(0, depth).join('/')}`);
  }
  return [...folders].sort((a, b) => a.split('/').length - b.split('/').length);
}
