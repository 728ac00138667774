#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { Command, InvalidArgumentError, Option } from 'commander';
import pino from 'pino';
import { SessionPool, type SessionPoolOptions } from '../index.js';
import { requirePeers, type PeerGroup } from '../peers.js';
// No optional peer dependency here: `exec` and `doctor` work with the library's dependencies alone.
// The service (fastify, prom-client...) is imported by `serve` only, once requirePeers found it.
import { loadTokensFile } from '../server/auth.js';
import { agentReply, startAgentCheck, type AgentCheck } from '../server/agent-check.js';
import { doctor } from './doctor.js';

function integer(min: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`expected an integer >= ${min}`);
    return n;
  };
}

interface ServeOptions {
  host: string;
  port: number;
  tokens?: string;
  minIdle: number;
  maxSessions: number;
  warmupCode?: string;
  spawn: 'exec' | 'fork';
  idleTimeoutMs: number;
  acquireTimeoutMs: number;
  timeoutMs: number;
  maxTimeoutMs: number;
  tenantMaxSessions: number;
  tenantMaxConcurrent: number;
  requestTimeoutMs: number;
  headersTimeoutMs: number;
  streamStuckMs: number;
  graceMs: number;
  logLevel: string;
  /** true (a free port) or the port given to --inspect. */
  inspect?: true | string;
  jupyterUrlToken?: boolean;
  nodeId?: string;
  agentPort?: number;
  redisUrl?: string;
  quotaFailOpen?: boolean;
  drainDeadlineMs: number;
  /** false with --no-sandbox. */
  sandbox: boolean;
  network: boolean;
  cgroupRoot?: string;
  memoryBytes: number;
  maxProcesses: number;
  cpuSeconds: number;
  diskBytes: number;
  maxOutputBytes: number;
}

const MiB = 1024 * 1024;

function sandboxOptions(opts: ServeOptions, logger: pino.Logger): NonNullable<SessionPoolOptions['sandbox']> {
  if (opts.sandbox)
    return { network: opts.network, requireCgroups: true, ...(opts.cgroupRoot !== undefined ? { cgroupRoot: opts.cgroupRoot } : {}) };
  logger.warn(
    "SESSIONS ARE NOT SANDBOXED (--no-sandbox): tenant code runs as this server's user, can read its files and tokens, " +
      'signal and read the memory of other sessions and of the server, and reach the network. Use this only for trusted code.',
  );
  return false;
}

async function serve(opts: ServeOptions): Promise<void> {
  // Without them: one message naming every missing package and the npm command, then exit 2.
  const needs: Array<[PeerGroup, string]> = [['server', '']];
  if (opts.inspect !== undefined) needs.push(['inspector', ' --inspect']);
  if (opts.redisUrl !== undefined) needs.push(['cluster', ' --redis-url']);
  await requirePeers(
    `pyrepl3 serve${needs.map(([, flag]) => flag).join('')}`,
    needs.map(([group]) => group),
  );
  const { createServer } = await import('../server/app.js');
  // Logs go to stderr; stdout carries only the machine-readable lines below.
  const logger = pino({ level: opts.logLevel }, pino.destination(2));
  const tokens = opts.tokens !== undefined ? await loadTokensFile(opts.tokens) : undefined;
  const server = await createServer({
    logger,
    ...(tokens !== undefined ? { tokens } : {}),
    idleTimeoutMs: opts.idleTimeoutMs,
    acquireTimeoutMs: opts.acquireTimeoutMs,
    timeoutMs: opts.timeoutMs,
    tenantDefaults: { maxSessions: opts.tenantMaxSessions, maxConcurrent: opts.tenantMaxConcurrent },
    maxTimeoutMs: opts.maxTimeoutMs,
    requestTimeoutMs: opts.requestTimeoutMs,
    headersTimeoutMs: opts.headersTimeoutMs,
    streamStuckMs: opts.streamStuckMs,
    shutdownGraceMs: opts.graceMs,
    jupyterUrlToken: opts.jupyterUrlToken === true,
    ...(opts.nodeId !== undefined ? { nodeId: opts.nodeId } : {}),
    ...(opts.redisUrl !== undefined ? { redisUrl: opts.redisUrl, quotaFailOpen: opts.quotaFailOpen === true } : {}),
    // Draining ends in a graceful stop: once the last session ends, or at the deadline.
    onDrain: (drained) => {
      const deadline = new Promise((resolve) => setTimeout(resolve, opts.drainDeadlineMs).unref());
      void Promise.race([drained, deadline]).then(() => stop('drained'));
    },
    ...(opts.inspect !== undefined ? { inspect: { port: opts.inspect === true ? 0 : integer(0)(opts.inspect) } } : {}),
    poolOptions: {
      minIdle: opts.minIdle,
      maxSessions: opts.maxSessions,
      spawn: opts.spawn,
      sandbox: sandboxOptions(opts, logger),
      limits: {
        memoryBytes: opts.memoryBytes,
        maxProcesses: opts.maxProcesses,
        cpuSeconds: opts.cpuSeconds,
        diskBytes: opts.diskBytes,
        maxOutputBytes: opts.maxOutputBytes,
      },
      ...(opts.warmupCode !== undefined ? { warmupCode: opts.warmupCode } : {}),
    },
  });
  let stopping = false;
  const stop = (signal: NodeJS.Signals | 'drained'): void => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: killing every session now');
      void server.pool.shutdown().finally(() => process.exit(1));
      return;
    }
    stopping = true;
    logger.info({ signal }, 'signal received; shutting down gracefully');
    Promise.all([server.close(), agent?.close()]).then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, 'shutdown failed');
        void server.pool.shutdown().finally(() => process.exit(1));
      },
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  process.on('SIGUSR2', () => void server.drain());
  let agent: AgentCheck | undefined;

  let url: string;
  try {
    url = await server.listen({ host: opts.host, port: opts.port });
  } catch (error) {
    await server.close({ graceMs: 0 });
    throw error;
  }
  if (opts.agentPort !== undefined) {
    agent = await startAgentCheck(opts.host, opts.agentPort, () => agentReply(server.pool, server.registry));
    process.stdout.write(`agent check on ${opts.host}:${agent.port}\n`);
  }
  process.stdout.write(`listening on ${url}\n`);
  process.stdout.write(`pool: ${server.pool.id}\n`);
  if (server.generatedToken !== null) process.stdout.write(`token: ${server.generatedToken}\n`);
  if (server.inspector !== null) {
    const { url, wsUrl } = server.inspector;
    process.stdout.write(`inspector: ${url} (open it in a browser on this machine; raw events at ${wsUrl})\n`);
    logger.info(
      { url, wsUrl },
      `inspector: open ${url} in a browser on this machine (it embeds the Stately inspector from stately.ai, so the browser needs internet; ` +
        `from elsewhere: ssh -L PORT:127.0.0.1:PORT). The raw events stream at ${wsUrl}. They include every tenant's code and output.`,
    );
  }
}

interface ExecOptions {
  timeoutMs?: number;
  warmupCode?: string;
  python?: string;
  sandbox?: boolean;
}

async function exec(code: string, opts: ExecOptions): Promise<number> {
  const source = code === '-' ? readFileSync(0, 'utf8') : code;
  const pool = new SessionPool({
    minIdle: 1,
    maxSessions: 1,
    healthCheckIntervalMs: 0,
    ...(opts.warmupCode !== undefined ? { warmupCode: opts.warmupCode } : {}),
    ...(opts.python !== undefined ? { pythonPath: opts.python } : {}),
    ...(opts.sandbox === true ? { sandbox: true } : {}),
    logger: pino({ level: 'warn' }, pino.destination(2)),
  });
  try {
    const session = await pool.acquire();
    const result = await session.execute(source, {
      ...(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {}),
      onOutput: (chunk) => chunk.type === 'stream' && (chunk.stream === 'stdout' ? process.stdout : process.stderr).write(chunk.text),
    });
    if (result.value !== null) process.stdout.write(`${result.value}\n`);
    if (result.status === 'ok') return 0;
    if (result.error !== null) process.stderr.write(result.error.traceback || `${result.error.name}: ${result.error.message}\n`);
    else process.stderr.write(`execution ${result.status}\n`);
    return 1;
  } finally {
    await pool.shutdown();
  }
}

const program = new Command()
  .name('pyrepl3')
  .description('Pooled, stateful Python sessions: a REST/WebSocket service and a one-shot runner');

program
  .command('serve')
  .description('run the REST/WebSocket service')
  .option('--host <host>', 'address to bind', '127.0.0.1')
  .option('--port <port>', 'port to bind (0 picks a free one)', integer(0), 8000)
  .option(
    '--tokens <file>',
    'JSON tokens file: [{"token","tenant","maxSessions"?,"maxConcurrent"?,"admin"?}]; without it a random admin token is printed',
  )
  .option('--min-idle <n>', 'sessions kept warm', integer(0), 1)
  .option('--max-sessions <n>', 'cap on sessions, starting and stopping ones included', integer(1), 4)
  .option('--warmup-code <code>', 'code every session runs before it is granted')
  .addOption(
    new Option('--spawn <mode>', "'fork': fork sessions from a warmed template (milliseconds each)")
      .choices(['exec', 'fork'])
      .default('exec'),
  )
  .option('--idle-timeout-ms <ms>', 'named sessions unused this long are culled', integer(1), 30 * 60_000)
  .option('--acquire-timeout-ms <ms>', 'how long a request waits for a session before 503', integer(0), 10_000)
  .option('--tenant-max-sessions <n>', 'named sessions a tenant may hold when its token names no maxSessions', integer(0), 4)
  .option(
    '--tenant-max-concurrent <n>',
    'executions (one-shots included) a tenant may run at once when its token names no maxConcurrent',
    integer(0),
    4,
  )
  .option('--timeout-ms <ms>', 'deadline of every execution that asks for none', integer(1), 60_000)
  .option('--max-timeout-ms <ms>', 'longest deadline a client may ask for (longer ones are cut to it)', integer(1), 3_600_000)
  .option('--request-timeout-ms <ms>', 'time to receive a whole request, body included (408 after it)', integer(1), 30_000)
  .option('--headers-timeout-ms <ms>', "time to receive a request's headers (408 after it)", integer(1), 10_000)
  .option(
    '--stream-stuck-ms <ms>',
    'a WebSocket client that reads nothing of its full 8 MiB buffer this long is closed (code 4001)',
    integer(1),
    60_000,
  )
  .option('--grace-ms <ms>', 'on SIGTERM/SIGINT, how long running executions may finish', integer(0), 10_000)
  .option('--log-level <level>', 'pino level (code and output only at debug)', 'info')
  .option('--inspect [port]', 'start the XState inspector on 127.0.0.1 (a free port unless given) and print its URL')
  .option('--redis-url <url>', 'share tenant quotas and session listings with the other nodes through this Redis (redis://host:port)')
  .option(
    '--quota-fail-open',
    "while Redis does not answer, let creates through on this node's own quotas (default: 503 quota_unavailable)",
  )
  .option(
    '--agent-port <port>',
    "answer HAProxy's agent check on this port (0: a free one): the room named sessions leave as weight, or drain",
    integer(0),
  )
  .option(
    '--drain-deadline-ms <ms>',
    'a draining node (SIGUSR2, POST /v1/admin/drain) stops at the latest after this long',
    integer(0),
    30 * 60_000,
  )
  .option('--node-id <id>', "this node's name in session ids (<node>.<epoch>.<uuid>), e.g. a StatefulSet ordinal; default: the host name")
  .option(
    '--jupyter-url-token',
    'also serve the Jupyter API under /t/<token>/api, for clients that send no credential (nbclient via JUPYTER_GATEWAY_URL)',
  )
  .option('--no-sandbox', "run sessions unsandboxed, as this server's user (only for trusted code; warns at start and in /readyz)")
  .option('--network', "give sandboxed sessions the host's network (default: none, a loopback of their own)", false)
  .option(
    '--cgroup-root <path>',
    "cgroup under which sessions get their own (a delegated cgroup v2 subtree; default: pyrepl3 under this process's)",
  )
  .option('--memory-bytes <n>', 'memory of a session, all its processes together', integer(1), 512 * MiB)
  .option('--max-processes <n>', 'processes and threads of a session', integer(1), 64)
  .option('--cpu-seconds <n>', 'CPU time of a session over its life, all its processes together', integer(1), 3600)
  .option('--disk-bytes <n>', "size of a session's writable folders (its folder, /tmp, /dev/shm)", integer(1), 256 * MiB)
  .option(
    '--max-output-bytes <n>',
    'output kept per execution, stdout and stderr together (the rest is dropped, truncated: true)',
    integer(1),
    16 * MiB,
  )
  .action(async (opts: ServeOptions) => {
    await serve(opts);
  });

program
  .command('doctor')
  .description('print what this host offers for sandboxing sessions, and what sandbox: true will do here')
  .option('--json', 'print it as JSON')
  .action(async (opts: { json?: boolean }) => {
    process.exitCode = await doctor(opts.json === true);
  });

program
  .command('exec')
  .description("run code in a fresh session and print its output ('-' reads stdin); exit 1 unless it ends ok, 2 if the session fails")
  .argument('<code>', 'Python code')
  .option('--timeout-ms <ms>', 'interrupt the code after this long', integer(1))
  .option('--warmup-code <code>', 'code to run first')
  .option('--python <path>', 'the Python command', undefined)
  .option('--sandbox', 'run it in a sandbox (docs/security.md)')
  .action(async (code: string, opts: ExecOptions) => {
    process.exitCode = await exec(code, opts);
  });

program.parseAsync(process.argv).catch((error: unknown) => {
  process.stderr.write(`pyrepl3: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(2);
});
