import { MissingDependencyError } from './errors.js';

/**
 * The optional peer dependencies of pyrepl3, by what needs them. The library (`pyrepl3`,
 * `pyrepl3/client`) needs none and imports none; package.json lists the same ranges under
 * peerDependencies (test/package.test.ts checks that they agree).
 */
export const PEERS = {
  /** The service: `pyrepl3/server`, `pyrepl3 serve`. */
  server: { fastify: '^5.12.8', '@fastify/websocket': '^11.3.7', 'prom-client': '^15.1.3' },
  /** The XState inspector: startInspector, createServer's `inspect`, `pyrepl3 serve --inspect`. */
  inspector: { '@statelyai/inspect': '^0.7.2' },
  /** Quotas and listings shared through Redis: createServer's `redisUrl`, `pyrepl3 serve --redis-url`. */
  cluster: { redis: '^5.12.1' },
} as const satisfies Record<string, Record<string, string>>;

export type PeerGroup = keyof typeof PEERS;

/** Whether `name` can be imported from here; false only when the package itself is not found. */
async function installed(name: string): Promise<boolean> {
  try {
    await import(name);
    return true;
  } catch (error) {
    // A package that is there but broken (a missing file or dependency of its own) is not reported as missing.
    const notFound =
      error instanceof Error && (error as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND' && error.message.includes(`'${name}'`);
    if (notFound) return false;
    throw error;
  }
}

/**
 * Resolves once every peer of `groups` can be imported; otherwise throws one MissingDependencyError
 * naming all the missing ones (not only the first the loader would trip on) and how to install them.
 */
export async function requirePeers(feature: string, groups: readonly PeerGroup[]): Promise<void> {
  const wanted = groups.flatMap((group) => Object.entries(PEERS[group]));
  const found = await Promise.all(wanted.map(([name]) => installed(name)));
  const missing = wanted.filter((_, i) => !found[i]).map(([name, range]) => `${name}@${range}`);
  if (missing.length > 0) throw new MissingDependencyError(feature, missing);
}
