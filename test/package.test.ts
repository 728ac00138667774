import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MissingDependencyError, SessionPool, PoolClosedError } from 'pyrepl3';
import { ApiError, Client } from 'pyrepl3/client';
import { PEERS } from '../src/peers.js';
import { ensureBuilt, ROOT } from './helpers/build.js';
import { isAlive } from './helpers/os.js';

describe('the package, as a user imports it', () => {
  it("is importable by its own name through the exports map, as `import { SessionPool } from 'pyrepl3'`", () => {
    expect(typeof SessionPool).toBe('function');
    expect(new PoolClosedError().name).toBe('PoolClosedError');
  });

  it("exports the typed client as `import { Client } from 'pyrepl3/client'`", () => {
    expect(typeof Client).toBe('function');
    expect(new ApiError('unauthorized', 'no', 401)).toMatchObject({ name: 'ApiError', code: 'unauthorized', status: 401 });
  });

  it('MissingDependencyError names what is missing and the command that installs it', () => {
    const one = new MissingDependencyError('pyrepl3 serve --redis-url', ['redis@^5.12.1']);
    expect(one).toMatchObject({
      name: 'MissingDependencyError',
      feature: 'pyrepl3 serve --redis-url',
      packages: ['redis@^5.12.1'],
      command: 'npm install redis@^5.12.1',
    });
    expect(one.message).toBe('pyrepl3 serve --redis-url needs redis, which is not installed. Install it with: npm install redis@^5.12.1');
    const three = new MissingDependencyError('x', ['a@^1', '@b/c@^2', 'd@^3']);
    expect(three.message).toBe('x needs a, @b/c and d, which are not installed. Install them with: npm install a@^1 @b/c@^2 d@^3');
  });

  it('works with `await using`: the lease goes back, then the pool shuts down with its processes', async () => {
    let pid = 0;
    {
      await using pool = new SessionPool({ minIdle: 1, maxSessions: 1, healthCheckIntervalMs: 0 });
      {
        await using session = await pool.acquire();
        pid = session.pid;
        expect((await session.execute('1 + 1')).value).toBe('2');
      }
      expect(pool.metrics()).toMatchObject({ idle: 1, busy: 0 });
    }
    expect(isAlive(pid)).toBe(false);
  });
});

// ---------------------------------------------------------------------------------------------
// The tarball `npm pack` makes, installed into throwaway projects from the npm cache: one with the
// library alone (what `npm install pyrepl3` gives), one with the service's peers added.

interface PackedFile {
  path: string;
}
interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  version: string;
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
  peerDependencies: Record<string, string>;
  peerDependenciesMeta: Record<string, { optional?: boolean }>;
  exports: Record<string, string | Record<string, string>>;
  bin: Record<string, string>;
};
const SERVER_PEERS = Object.keys(PEERS.server);
const ALL_PEERS = Object.values(PEERS).flatMap((group) => Object.keys(group));
/** What `import 'pyrepl3'` may never load: every optional peer, and the CLI's commander. */
const NOT_FOR_THE_LIBRARY = [...ALL_PEERS, 'commander'];

/** npm and node in a clean environment: nothing of the npm run that started vitest (its prefix, its config). */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) if (!/^npm_/i.test(key) && key !== 'INIT_CWD') env[key] = value;
  return { ...env, npm_config_update_notifier: 'false', ...extra };
}

function run(command: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = cleanEnv()): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** The package a module file belongs to, from its path or file: URL; null for built-ins and the project's own files. */
function packageOf(location: string): string | null {
  const at = location.lastIndexOf('/node_modules/');
  if (at < 0) return null;
  const [first = '', second = ''] = location.slice(at + '/node_modules/'.length).split('/');
  return first.startsWith('@') ? `${first}/${second}` : first;
}

// Logs every module the ESM loader resolves (pyrepl3's own imports included), for probe.mjs.
const HOOKS = `import { appendFileSync } from 'node:fs';
export async function resolve(specifier, context, nextResolve) {
  const resolved = await nextResolve(specifier, context);
  appendFileSync(process.env.PROBE_LOG, resolved.url + '\\n');
  return resolved;
}
`;

// probe.mjs <what>: does one thing as a user's program would and prints JSON: what it got, and
// every module that was loaded (through the ESM loader, and through require()).
const PROBE = `import { createRequire, register } from 'node:module';
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
register('./hooks.mjs', import.meta.url);
const what = process.argv[2];
const out = {};
const describe = (error) => ({ name: error.name, code: error.code, message: error.message, command: error.command, packages: error.packages, stack: error.stack });
if (what === 'pool') {
  const { SessionPool } = await import('pyrepl3');
  const pool = new SessionPool({ minIdle: 0, maxSessions: 1, healthCheckIntervalMs: 0 });
  try {
    const session = await pool.acquire();
    out.value = (await session.execute('1 + 1')).value;
    out.worker = (await session.execute("__import__('sys').modules['pyrepl3_worker'].__file__")).value;
  } finally {
    await pool.shutdown();
  }
} else if (what === 'client') {
  const { Client } = await import('pyrepl3/client');
  out.value = typeof Client;
} else if (what === 'server') {
  const { MissingDependencyError } = await import('pyrepl3');
  try {
    const server = await import('pyrepl3/server');
    out.keys = Object.keys(server).sort();
    out.indexKeys = Object.keys(await import(pathToFileURL('node_modules/pyrepl3/dist/src/server/index.js').href)).sort();
  } catch (error) {
    out.error = { ...describe(error), isMissingDependencyError: error instanceof MissingDependencyError };
  }
}
const files = [...readFileSync(process.env.PROBE_LOG, 'utf8').split('\\n'), ...Object.keys(createRequire(import.meta.url).cache)];
out.loaded = files.filter(Boolean);
process.stdout.write(JSON.stringify(out));
`;

interface ProbeResult {
  value?: string;
  worker?: string;
  keys?: string[];
  indexKeys?: string[];
  error?: {
    name: string;
    code?: string;
    message: string;
    command?: string;
    packages?: string[];
    stack: string;
    isMissingDependencyError: boolean;
  };
  loaded: string[];
  packages: string[];
}

async function probe(project: string, what: 'pool' | 'client' | 'server'): Promise<ProbeResult> {
  const log = join(project, `probe-${what}.log`);
  writeFileSync(log, '');
  const { code, stdout, stderr } = await run(process.execPath, ['probe.mjs', what], project, cleanEnv({ PROBE_LOG: log }));
  if (code !== 0) throw new Error(`probe ${what} exited with ${code}: ${stderr}`);
  const result = JSON.parse(stdout) as ProbeResult;
  result.packages = [...new Set(result.loaded.map(packageOf).filter((p): p is string => p !== null))].sort();
  return result;
}

/** A throwaway project (ESM, no name) with the probe, its hooks and `package.json` extras. */
function project(root: string, name: string, extra: Record<string, unknown> = {}): string {
  const dir = join(root, name);
  mkdirSync(dir);
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ private: true, type: 'module', ...extra }, null, 2));
  writeFileSync(join(dir, 'hooks.mjs'), HOOKS);
  writeFileSync(join(dir, 'probe.mjs'), PROBE);
  return dir;
}

/** From the npm cache when it can (the repo's own `npm ci` filled it); the registry otherwise. */
async function npmInstall(dir: string, specs: string[]): Promise<Run> {
  const result = await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=warn', ...specs], dir);
  if (result.code !== 0) throw new Error(`npm install in ${dir} failed: ${result.stderr}`);
  return result;
}

function installedVersion(name: string): string {
  return (JSON.parse(readFileSync(join(ROOT, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;
}

describe('the tarball npm pack makes, installed into a fresh project', { timeout: 60_000 }, () => {
  let root = '';
  let tarball = '';
  let files: string[] = [];
  /** `npm install pyrepl3` alone: the library, and the bin with exec and doctor. */
  let lean = '';
  let leanInstall: Run = { code: 0, stdout: '', stderr: '' };
  /** Plus the service's peers (fastify, @fastify/websocket, prom-client), not the inspector's nor redis. */
  let service = '';
  let serviceInstall: Run = { code: 0, stdout: '', stderr: '' };
  const started: ChildProcess[] = [];

  beforeAll(async () => {
    ensureBuilt();
    root = mkdtempSync(join(tmpdir(), 'pyrepl3-pack-'));
    // --ignore-scripts: pack what is built (prepack would clean dist/ under the other test files' feet).
    const packed = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', root], ROOT);
    if (packed.code !== 0) throw new Error(`npm pack failed: ${packed.stderr}`);
    const [info] = JSON.parse(packed.stdout) as Array<{ filename: string; files: PackedFile[] }>;
    tarball = join(root, info!.filename);
    files = info!.files.map((f) => f.path).sort();

    lean = project(root, 'lean');
    // What docs/api.md tells a service user on Node 20: the override keeps cookie@2 (Node >= 22) out.
    service = project(root, 'service', { overrides: { 'light-my-request': '~6.6.0' } });
    [leanInstall, serviceInstall] = await Promise.all([
      npmInstall(lean, [tarball]),
      npmInstall(service, [tarball, ...SERVER_PEERS.map((name) => `${name}@${installedVersion(name)}`)]),
    ]);
  }, 120_000);

  afterAll(() => {
    for (const child of started) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    if (root !== '') rmSync(root, { recursive: true, force: true });
  });

  it('holds the built library, the CLI, the service and the Python worker once: no bench, tests, demo, docs generator, sources, maps or bytecode', () => {
    const allowed =
      /^(package\.json|README\.md|LICENSE|dist\/(src|machines)\/[\w./-]+\.(js|d\.ts)|dist\/src\/python\/pyrepl3_worker\/\w+\.py)$/;
    expect(files.filter((f) => !allowed.test(f))).toEqual([]);
    expect(files.filter((f) => /(^|\/)(bench|test|docs)\/|demo\.|\.map$|\.pyc$|__pycache__|\.ts$/.test(f) && !f.endsWith('.d.ts'))).toEqual(
      [],
    );
    expect(files.filter((f) => f.endsWith('pyrepl3_worker/__init__.py'))).toEqual(['dist/src/python/pyrepl3_worker/__init__.py']);
    // Every file the exports map and the bin name is in it.
    const targets = [
      ...Object.values(pkg.exports).flatMap((e) => (typeof e === 'string' ? [e] : Object.values(e))),
      ...Object.values(pkg.bin),
    ];
    for (const target of targets) expect(files).toContain(target.replace(/^\.\//, ''));
  });

  it("lists the service's packages as optional peers (and devDependencies), with the ranges the code asks for, and none as a dependency", () => {
    const ranges = Object.fromEntries(Object.values(PEERS).flatMap((group) => Object.entries(group)));
    expect(pkg.peerDependencies).toEqual(ranges);
    for (const name of ALL_PEERS) {
      expect(pkg.peerDependenciesMeta[name]).toEqual({ optional: true });
      expect(pkg.devDependencies[name]).toBe(ranges[name]);
      expect(pkg.dependencies[name]).toBeUndefined();
    }
  });

  it('installs without EBADENGINE or peer warnings, and without the optional peers', () => {
    expect(leanInstall.stderr + leanInstall.stdout).not.toMatch(/EBADENGINE|ERESOLVE|peer dep/i);
    expect(serviceInstall.stderr + serviceInstall.stdout).not.toMatch(/EBADENGINE|ERESOLVE|peer dep/i);
    const lock = JSON.parse(readFileSync(join(lean, 'package-lock.json'), 'utf8')) as { packages: Record<string, unknown> };
    const installed = Object.keys(lock.packages).map(packageOf);
    for (const name of ALL_PEERS) expect(installed).not.toContain(name);
  });

  it("`import { SessionPool } from 'pyrepl3'` loads only the library, and runs Python with the worker from the tarball", async () => {
    const result = await probe(lean, 'pool');
    expect(result.value).toBe('2');
    expect(result.worker).toBe(`'${join(lean, 'node_modules/pyrepl3/dist/src/python/pyrepl3_worker/__init__.py')}'`);
    // The log sees packages at all (pyrepl3's own imports), so an empty one cannot pass for a clean one.
    expect(result.packages).toEqual(expect.arrayContaining(['pyrepl3', 'xstate', 'pino', 'execa']));
    for (const name of NOT_FOR_THE_LIBRARY) expect(result.packages).not.toContain(name);
  });

  it("`import { Client } from 'pyrepl3/client'` loads no other package", async () => {
    const result = await probe(lean, 'client');
    expect(result.value).toBe('function');
    expect(result.packages).toEqual(['pyrepl3']);
  });

  it("`import('pyrepl3/server')` without the peers throws one MissingDependencyError naming each and the npm command", async () => {
    const { error } = await probe(lean, 'server');
    const wanted = Object.entries(PEERS.server).map(([name, range]) => `${name}@${range}`);
    expect(error).toMatchObject({
      name: 'MissingDependencyError',
      isMissingDependencyError: true,
      packages: wanted,
      command: `npm install ${wanted.join(' ')}`,
    });
    expect(error!.message).toBe(
      `pyrepl3/server needs fastify, @fastify/websocket and prom-client, which are not installed. Install them with: npm install ${wanted.join(' ')}`,
    );
  });

  it('`npx pyrepl3 serve` without the peers prints one line naming what to install, no stack trace, and exits non-zero', async () => {
    const { code, stdout, stderr } = await run('npx', ['--no', 'pyrepl3', 'serve', '--port', '0'], lean);
    const wanted = Object.entries(PEERS.server).map(([name, range]) => `${name}@${range}`);
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toBe(
      `pyrepl3: pyrepl3 serve needs fastify, @fastify/websocket and prom-client, which are not installed. Install them with: npm install ${wanted.join(' ')}\n`,
    );
  });

  it('`pyrepl3 exec` and `pyrepl3 doctor` work without the peers', async () => {
    const exec = await run('npx', ['--no', 'pyrepl3', 'exec', 'print(6 * 7)'], lean);
    expect(exec).toEqual({ code: 0, stdout: '42\n', stderr: '' });
    const doctor = await run('npx', ['--no', 'pyrepl3', 'doctor', '--json'], lean);
    expect(doctor.stderr).toBe('');
    expect(JSON.parse(doctor.stdout)).toHaveProperty('namespaces');
  });

  it("with the service's peers installed, `import 'pyrepl3'` still loads none of them, and 'pyrepl3/server' exports all of the service", async () => {
    const pool = await probe(service, 'pool');
    expect(pool.value).toBe('2');
    expect(pool.packages).toContain('xstate');
    for (const name of NOT_FOR_THE_LIBRARY) expect(pool.packages).not.toContain(name);

    const server = await probe(service, 'server');
    expect(server.error).toBeUndefined();
    expect(server.keys).toEqual(server.indexKeys);
    expect(server.keys).toContain('createServer');
    expect(server.packages).toEqual(expect.arrayContaining(SERVER_PEERS));
    // The inspector and redis stay unloaded (and here uninstalled) until asked for.
    expect(server.packages).not.toContain('@statelyai/inspect');
    expect(server.packages).not.toContain('redis');
  });

  it('`pyrepl3 serve` then starts and answers /healthz; --inspect and --redis-url name just the peers they need', async () => {
    const bin = join(service, 'node_modules/.bin/pyrepl3');
    const child = spawn(
      process.execPath,
      [bin, 'serve', '--host', '127.0.0.1', '--port', '0', '--min-idle', '0', '--no-sandbox', '--log-level', 'error'],
      {
        cwd: service,
        env: cleanEnv(),
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    started.push(child);
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const url = await new Promise<string>((resolve, reject) => {
      createInterface({ input: child.stdout }).on('line', (line) => {
        const listening = /^listening on (http:\/\/\S+)$/.exec(line);
        if (listening) resolve(listening[1]!);
      });
      void exited.then((code) => reject(new Error(`serve exited with ${code}: ${stderr}`)));
    });
    const health = await fetch(`${url}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'ok' });
    process.kill(child.pid!, 'SIGTERM');
    expect(await exited).toBe(0);

    const extras = await run(process.execPath, [bin, 'serve', '--port', '0', '--inspect', '--redis-url', 'redis://127.0.0.1:1'], service);
    expect(extras.code).toBe(2);
    expect(extras.stderr).toBe(
      `pyrepl3: pyrepl3 serve --inspect --redis-url needs @statelyai/inspect and redis, which are not installed. ` +
        `Install them with: npm install @statelyai/inspect@${PEERS.inspector['@statelyai/inspect']} redis@${PEERS.cluster.redis}\n`,
    );
  });
});
