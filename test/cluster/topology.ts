import { spawn, type ChildProcess } from 'node:child_process';
import { freePorts, HaproxyProcess } from '../../bench/anchors/haproxy.js';
import { tokensFile, type serveCli, type ServingCli } from '../server/cli.js';

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
  #proxy: HaproxyProcess | null = null;
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

  /** Starts HAProxy (on the same ports as before) and waits until it sees every node up in every backend. */
  async startProxy(): Promise<void> {
    this.#proxy = await HaproxyProcess.start(this.nodes, { proxy: this.proxyPort, stats: this.statsPort });
    await this.until(async () => (await this.upServers()) === 6, 'every node up in HAProxy');
  }

  async stopProxy(): Promise<void> {
    await this.#proxy?.stop();
  }

  upServers(): Promise<number> {
    return this.#proxy?.upServers() ?? Promise.resolve(0);
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
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n${this.#proxy?.log ?? ''}`);
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

async function startNode(
  serve: ReturnType<typeof serveCli>,
  id: string,
  tokensFile: string,
  extra: string[],
  port: number,
  agentPort: number,
): Promise<ClusterNode> {
  const serving = await serve([
    '--node-id',
    id,
    '--port',
    String(port),
    '--agent-port',
    String(agentPort),
    '--tokens',
    tokensFile,
    '--min-idle',
    '1',
    '--max-sessions',
    '4',
    '--log-level',
    'warn',
    ...extra,
  ]);
  return {
    id,
    serving,
    port: Number(new URL(serving.url).port),
    agentPort: Number(/agent check on \S+:(\d+)/.exec(serving.stdout())![1]),
  };
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
