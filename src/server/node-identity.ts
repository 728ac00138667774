import { randomBytes, randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { InvalidOptionError } from '../index.js';
import { SessionElsewhereError, SessionLostError } from './refusals.js';

/**
 * Which node, and which start of it, holds a session. Session ids carry both
 * (`<node>.<epoch>.<uuid>`), so any number of identical proxies route by the id alone, and a node
 * can tell a session it never had from one it lost in a restart.
 */
export interface NodeIdentity {
  node: string;
  /** Random per process start. */
  epoch: string;
}

const NODE_ID = /^[a-z0-9][a-z0-9-]{0,62}$/;
const UUID_TAIL = '[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';
const SESSION_ID = new RegExp(`^([a-z0-9][a-z0-9-]{0,62})\\.([0-9a-f]{8})\\.[0-9a-f]{8}-${UUID_TAIL}$`);
/**
 * Jupyter clients route kernel and session ids with `\w+-\w+-\w+-\w+-\w+` (jupyter_server's
 * `_kernel_id_regex`), so a Jupyter id is a UUID whose first group is `<node>_<epoch>`, with the
 * node's dashes written as underscores (a node id has none of its own).
 */
const JUPYTER_ID = new RegExp(`^([a-z0-9][a-z0-9_]{0,62})_([0-9a-f]{8})-${UUID_TAIL}$`);

/** `nodeId` (e.g. a StatefulSet ordinal), by default this host's name. */
export function nodeIdentity(nodeId?: string): NodeIdentity {
  const node =
    nodeId ??
    (hostname()
      .toLowerCase()
      .replace(/[^a-z0-9-]/g, '-')
      .replace(/^-+/, '')
      .slice(0, 63) ||
      'node');
  if (!NODE_ID.test(node))
    throw new InvalidOptionError(`nodeId must be 1-63 of a-z, 0-9 and '-', starting with a letter or digit; got ${JSON.stringify(node)}`);
  return { node, epoch: randomBytes(4).toString('hex') };
}

export function newSessionId(identity: NodeIdentity): string {
  return `${identity.node}.${identity.epoch}.${randomUUID()}`;
}

/** A kernel or notebook-session id of the Jupyter API: a UUID that names its node and start. */
export function newJupyterId(identity: NodeIdentity): string {
  return `${identity.node.replaceAll('-', '_')}_${identity.epoch}${randomUUID().slice(8)}`;
}

/** Where an id says its session lives: here, on another node, on an earlier start of this one, or nowhere. */
export type Whereabouts = 'here' | { misdirected: string } | 'lost' | 'unknown';

export function whereabouts(identity: NodeIdentity, id: string): Whereabouts {
  const session = SESSION_ID.exec(id);
  const jupyter = session === null ? JUPYTER_ID.exec(id) : null;
  const match = session ?? jupyter;
  if (match === null) return 'unknown';
  const node = session === null ? match[1]!.replaceAll('_', '-') : match[1]!;
  if (node !== identity.node) return { misdirected: node };
  return match[2] === identity.epoch ? 'here' : 'lost';
}

/**
 * Refuses an id another node or an earlier start of this one made: SessionElsewhereError (the proxy
 * sent it to the wrong node) or SessionLostError (its state died with that process). Any other id
 * is looked up, and may be not found.
 */
export function refuseForeign(identity: NodeIdentity, id: string, what: 'session' | 'kernel' = 'session'): void {
  const where = whereabouts(identity, id);
  if (where === 'lost') throw new SessionLostError(id, identity.node, what);
  if (typeof where === 'object') throw new SessionElsewhereError(id, where.misdirected, identity.node, what);
}
