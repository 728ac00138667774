import { randomUUID } from 'node:crypto';

/**
 * Jupyter messages (protocol 5.3) as they travel over the kernel WebSocket: JSON text frames with
 * the channel named in the message, and top-level msg_id/msg_type as jupyter_server's gateway
 * client requires (or v1 binary frames, v1.ts). Parsing tolerates what real clients send: no channel (shell), a float date,
 * an empty parent_header, extra header fields.
 */

export const PROTOCOL_VERSION = '5.3';

export type Channel = 'shell' | 'control' | 'iopub' | 'stdin';

export interface Header {
  msg_id: string;
  msg_type: string;
  username: string;
  session: string;
  date: string;
  version: string;
}

export type Content = Record<string, unknown>;

export interface JupyterMessage {
  channel: Channel;
  header: Header;
  parent_header: Header | Record<string, never>;
  metadata: Record<string, unknown>;
  content: Content;
  buffers: unknown[];
  msg_id: string;
  msg_type: string;
}

/** A message from a client: only what the kernel reads from it. */
export interface ClientMessage {
  channel: Channel;
  header: Header;
  content: Content;
}

const CHANNELS = new Set<string>(['shell', 'control', 'iopub', 'stdin']);

/** The kernel's side of a conversation: its own session id and user name in every header. */
export interface Sender {
  session: string;
  username: string;
}

export function makeMessage(sender: Sender, channel: Channel, msgType: string, content: Content, parent: Header | null): JupyterMessage {
  const header: Header = {
    msg_id: randomUUID(),
    msg_type: msgType,
    username: sender.username,
    session: sender.session,
    date: new Date().toISOString(),
    version: PROTOCOL_VERSION,
  };
  return {
    channel,
    header,
    parent_header: parent ?? {},
    metadata: {},
    content,
    buffers: [],
    msg_id: header.msg_id,
    msg_type: msgType,
  };
}

/** A client frame as a message; null when it is not one (the kernel ignores it, as ipykernel does). */
export function parseClientMessage(text: string): ClientMessage | null {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return null;
  }
  return toClientMessage(raw);
}

export function toClientMessage(raw: unknown): ClientMessage | null {
  if (!isObject(raw) || !isObject(raw.header)) return null;
  const header = raw.header;
  const msgType = typeof header.msg_type === 'string' ? header.msg_type : raw.msg_type;
  const msgId = typeof header.msg_id === 'string' ? header.msg_id : raw.msg_id;
  if (typeof msgType !== 'string' || typeof msgId !== 'string') return null;
  const channel = typeof raw.channel === 'string' && CHANNELS.has(raw.channel) ? (raw.channel as Channel) : 'shell';
  return {
    channel,
    header: {
      msg_id: msgId,
      msg_type: msgType,
      username: typeof header.username === 'string' ? header.username : '',
      session: typeof header.session === 'string' ? header.session : '',
      date: dateOf(header.date),
      version: typeof header.version === 'string' ? header.version : PROTOCOL_VERSION,
    },
    content: isObject(raw.content) ? raw.content : {},
  };
}

/** jupyter_server's gateway client sends the date as epoch seconds. */
function dateOf(value: unknown): string {
  if (typeof value === 'number') return new Date(value * 1000).toISOString();
  return typeof value === 'string' ? value : new Date().toISOString();
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
