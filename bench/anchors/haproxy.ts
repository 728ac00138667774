import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { DOCS_DIR } from '../paths.js';

/** The HAProxy configuration docs/deploy ships; the cluster tests and benchmarks run this very file. */
export const HAPROXY_CFG = join(DOCS_DIR, 'deploy', 'haproxy.cfg');

export interface ProxiedNode {
  id: string;
  port: number;
  agentPort: number;
}

/** HAProxy on loopback in front of `nodes`, with its Prometheus exporter; started and stopped by pid. */
export class HaproxyProcess {
  #log = '';

  private constructor(
    readonly port: number,
    readonly statsPort: number,
    private readonly process: ChildProcess,
  ) {
    process.stdout!.on('data', (d: Buffer) => (this.#log += d.toString()));
    process.stderr!.on('data', (d: Buffer) => (this.#log += d.toString()));
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get log(): string {
    return this.#log;
  }

  static async start(nodes: ProxiedNode[], ports?: { proxy: number; stats: number }): Promise<HaproxyProcess> {
    const [proxy, stats] = ports ? [ports.proxy, ports.stats] : await freePorts(2);
    const env: Record<string, string> = {
      ...(process.env as Record<string, string>),
      PYREPL3_PROXY_BIND: `127.0.0.1:${proxy}`,
      PYREPL3_STATS_BIND: `127.0.0.1:${stats}`,
    };
    for (const node of nodes) {
      env[`PYREPL3_${node.id.toUpperCase()}`] = `127.0.0.1:${node.port}`;
      env[`PYREPL3_${node.id.toUpperCase()}_AGENT`] = String(node.agentPort);
    }
    const child = spawn('haproxy', ['-db', '-f', HAPROXY_CFG], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    return new HaproxyProcess(proxy!, stats!, child);
  }

  /** Servers HAProxy marks up, in all backends, from its Prometheus exporter. */
  async upServers(): Promise<number> {
    try {
      const text = await (await fetch(`http://127.0.0.1:${this.statsPort}/metrics`)).text();
      return text.split('\n').filter((line) => /^haproxy_server_status\{.*state="UP".*\} 1$/.test(line)).length;
    } catch {
      return 0;
    }
  }

  async stop(): Promise<void> {
    if (this.process.exitCode !== null || this.process.signalCode !== null) return;
    const exited = new Promise((resolve) => this.process.once('exit', resolve));
    this.process.kill('SIGKILL');
    await exited;
  }
}

export async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<Server>((resolve) => {
          const server = createServer();
          server.listen(0, '127.0.0.1', () => resolve(server));
        }),
    ),
  );
  const ports = servers.map((s) => (s.address() as { port: number }).port);
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  return ports;
}
