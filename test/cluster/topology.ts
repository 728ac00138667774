import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { ROOT, tokensFile, type serveCli, type ServingCli } from '../server/cli.js';

/** The HAProxy configuration the docs ship: the tests run that very file. */
export const HAPROXY_CFG = join(ROOT, 'docs/deploy/haproxy.cfg');
export const TENANT = 'cluster-tenant-token-0123';
/** A tenant with maxSessions 2, for quotas across nodes. */
export const SMALL = 'cluster-small-token-8901';
export const ADMIN = 'cluster-admin-token-4567';

export interface ClusterNode {
  id: string;
  serving: ServingCli;
  port: number;
  agentPort: number;
}

/**
 * Three `pyrepl3 serve` nodes and HAProxy on loopback, started by the test and stopped by pid. A
 * node can be killed, stopped and restarted on its own port with its own node id.
 */
export class Topology {
  #proxy: ChildProcess | null = null;
  #proxyLog = '';
  readonly proxyPort: number;
  readonly statsPort: number;

  private constructor(
    readonly nodes: ClusterNode[],
    readonly tokensFile: string,
    readonly nodeArgs: string[],
    ports: { proxy: number; stats: number },
    private readonly serve: ReturnType<typeof serveCli>,
  ) {
    this.proxyPort = ports.proxy;
    this.statsPort = ports.stats;
  }

  get url(): string {
    return `http://127.0.0.1:${this.proxyPort}`;
  }

  static async start(serve: ReturnType<typeof serveCli>, nodeArgs: string[] = []): Promise<Topology> {
    const tokens = tokensFile([
      { token: TENANT, tenant: 'alice', maxSessions: 20, maxConcurrent: 20 },
      { token: SMALL, tenant: 'bob', maxSessions: 2, maxConcurrent: 2 },
      { token: ADMIN, tenant: 'ops', admin: true },
    ]);
    const nodes = await Promise.all(['n1', 'n2', 'n3'].map((id) => startNode(serve, id, tokens, nodeArgs, 0, 0)));
    const [proxy, stats] = await freePorts(2);
    const topology = new Topology(nodes, tokens, nodeArgs, { proxy: proxy!, stats: stats! }, serve);
    await topology.startProxy();
    return topology;
  }

  /** Starts HAProxy and waits until it sees every node up in every backend. */
  async startProxy(): Promise<void> {
    const env: Record<string, string> = {
      ...process.env,
      PYREPL3_PROXY_BIND: `127.0.0.1:${this.proxyPort}`,
      PYREPL3_STATS_BIND: `127.0.0.1:${this.statsPort}`,
    } as Record<string, string>;
    for (const node of this.nodes) {
      env[`PYREPL3_${node.id.toUpperCase()}`] = `127.0.0.1:${node.port}`;
      env[`PYREPL3_${node.id.toUpperCase()}_AGENT`] = String(node.agentPort);
    }
    this.#proxyLog = '';
    const proxy = spawn('haproxy', ['-db', '-f', HAPROXY_CFG], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    proxy.stdout!.on('data', (d: Buffer) => (this.#proxyLog += d.toString()));
    proxy.stderr!.on('data', (d: Buffer) => (this.#proxyLog += d.toString()));
    this.#proxy = proxy;
    await this.until(async () => (await this.upServers()) === 6, 'every node up in HAProxy');
  }

  async stopProxy(): Promise<void> {
    const proxy = this.#proxy;
    if (proxy === null || proxy.exitCode !== null) return;
    const exited = new Promise((resolve) => proxy.once('exit', resolve));
    proxy.kill('SIGKILL');
    await exited;
  }

  /** Servers HAProxy marks up, in all backends (node_* and placement), from its Prometheus exporter. */
  async upServers(): Promise<number> {
    try {
      const text = await (await fetch(`http://127.0.0.1:${this.statsPort}/metrics`)).text();
      return text.split('\n').filter((line) => /^haproxy_server_status\{.*state="UP".*\} 1$/.test(line)).length;
    } catch {
      return 0;
    }
  }

  /** Starts a node again with its id and ports (after it was killed). */
  async restart(node: ClusterNode): Promise<void> {
    const again = await startNode(this.serve, node.id, this.tokensFile, this.nodeArgs, node.port, node.agentPort);
    node.serving = again.serving;
  }

  node(sessionId: string): ClusterNode {
    return this.nodes.find((n) => sessionId.startsWith(`${n.id}.`))!;
  }

  async until(condition: () => Promise<boolean>, what: string, boundMs = 15_000): Promise<void> {
    const deadline = Date.now() + boundMs;
    while (!(await condition())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n${this.#proxyLog}`);
      await new Promise((resolve) => setImmediate(resolve));
    }
  }

  async stop(): Promise<void> {
    await this.stopProxy();
    for (const node of this.nodes) {
      if (node.serving.process.exitCode === null && node.serving.process.signalCode === null) {
        node.serving.process.kill('SIGCONT');
        node.serving.process.kill('SIGTERM');
        await node.serving.exited;
      }
    }
  }
}

async function startNode(serve: ReturnType<typeof serveCli>, id: string, tokensFile: string, extra: string[], port: number, agentPort: number): Promise<ClusterNode> {
  const serving = await serve([
    '--node-id', id, '--port', String(port), '--agent-port', String(agentPort), '--tokens', tokensFile,
    '--min-idle', '1', '--max-sessions', '4', '--log-level', 'warn', ...extra,
  ]);
  return {
    id,
    serving,
    port: Number(new URL(serving.url).port),
    agentPort: Number(/agent check on \S+:(\d+)/.exec(serving.stdout())![1]),
  };
}

async function freePorts(count: number): Promise<number[]> {
  const { createServer } = await import('node:net');
  const servers = await Promise.all(
    Array.from({ length: count }, () => new Promise<import('node:net').Server>((resolve) => {
      const server = createServer();
      server.listen(0, '127.0.0.1', () => resolve(server));
    })),
  );
  const ports = servers.map((s) => (s.address() as { port: number }).port);
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  return ports;
}

/** redis-server on a loopback port, no persistence, started by the test and stopped by pid. */
export class RedisServer {
  private constructor(
    readonly port: number,
    private process: ChildProcess,
  ) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  static async start(port?: number): Promise<RedisServer> {
    const chosen = port ?? (await freePorts(1))[0]!;
    const server = new RedisServer(chosen, RedisServer.#spawn(chosen));
    await server.#ready();
    return server;
  }

  static #spawn(port: number): ChildProcess {
    return spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  }

  async #ready(): Promise<void> {
    const { connect } = await import('node:net');
    for (;;) {
      const up = await new Promise<boolean>((resolve) => {
        const socket = connect(this.port, '127.0.0.1', () => {
          socket.end('PING\r\n');
          resolve(true);
        }).on('error', () => resolve(false));
      });
      if (up) return;
      await new Promise((resolve) => setImmediate(resolve));
    }
  }

  async stop(): Promise<void> {
    if (this.process.exitCode !== null || this.process.signalCode !== null) return;
    const exited = new Promise((resolve) => this.process.once('exit', resolve));
    this.process.kill('SIGKILL');
    await exited;
  }

  async restart(): Promise<void> {
    await this.stop();
    this.process = RedisServer.#spawn(this.port);
    await this.#ready();
  }
}
