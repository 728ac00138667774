import { randomBytes, randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { InvalidOptionError } from '../index.js';
import { NotFoundError, SessionElsewhereError, SessionLostError } from './refusals.js';

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
const SESSION_ID = /^([a-z0-9][a-z0-9-]{0,62})\.([0-9a-f]{8})\.[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** `nodeId` (e.g. a StatefulSet ordinal), by default this host's name. */
export function nodeIdentity(nodeId?: string): NodeIdentity {
  const node = nodeId ?? (hostname().toLowerCase().replace(/[^a-z0-9-]/g, '-').replace(/^-+/, '').slice(0, 63) || 'node');
  if (!NODE_ID.test(node)) throw new InvalidOptionError(`nodeId must be 1-63 of a-z, 0-9 and '-', starting with a letter or digit; got ${JSON.stringify(node)}`);
  return { node, epoch: randomBytes(4).toString('hex') };
}

export function newSessionId(identity: NodeIdentity): string {
  return `${identity.node}.${identity.epoch}.${randomUUID()}`;
}

/**
 * Refuses an id this node cannot serve: another node's (SessionElsewhereError: the proxy sent it to
 * the wrong node), an earlier start of this node's (SessionLostError: its state died with that
 * process), or no session id at all (NotFoundError).
 */
export function checkSessionId(identity: NodeIdentity, id: string): void {
  const match = SESSION_ID.exec(id);
  if (match === null) throw new NotFoundError();
  const [, node = '', epoch = ''] = match;
  if (node !== identity.node) throw new SessionElsewhereError(id, node, identity.node);
  if (epoch !== identity.epoch) throw new SessionLostError(id, node);
}
