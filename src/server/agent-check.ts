import { createServer, type Server } from 'node:net';
import type { SessionPool } from '../index.js';
import type { SessionRegistry } from './registry.js';

/**
 * HAProxy's agent check: on each connection the node answers one line and closes. `up ready NN%`
 * gives the room its named sessions leave as its weight, so new sessions go where there is room and
 * a node full of them (0%) gets none; `drain` once it is draining or shutting down (existing sessions
 * still reach it). One-shots hold a session for a moment only: they wait in the node's queue rather
 * than zero its weight, which would turn a burst into refusals.
 */
export function agentReply(pool: SessionPool, registry: SessionRegistry): string {
  if (registry.state !== 'open') return 'drain\n';
  const { maxSessions } = pool.snapshot().capacity;
  const free = Math.max(0, maxSessions - registry.size);
  return `up ready ${Math.floor((100 * free) / maxSessions)}%\n`;
}

export interface AgentCheck {
  port: number;
  close(): Promise<void>;
}

export async function startAgentCheck(host: string, port: number, reply: () => string): Promise<AgentCheck> {
  const server: Server = createServer((socket) => {
    socket.on('error', () => undefined);
    socket.end(reply());
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const address = server.address();
  return {
    port: typeof address === 'object' && address !== null ? address.port : port,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
