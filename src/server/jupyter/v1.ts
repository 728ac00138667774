import type { JupyterMessage } from './messages.js';

/**
 * The `v1.kernel.websocket.jupyter.org` WebSocket subprotocol (jupyter_server's
 * docs/source/developers/websocket-protocols.rst): every frame is binary, a little-endian uint64
 * count of offsets, the offsets (uint64 LE), then the channel, header, parent_header, metadata
 * and content (JSON) and any buffers, each part ending where the next offset says.
 * @jupyterlab/services asks for it first; with it, it connects at the first try.
 */
export const V1_PROTOCOL = 'v1.kernel.websocket.jupyter.org';

/** The five parts every message has before its buffers. */
const PARTS = 5;

export function encodeV1(message: JupyterMessage): Buffer {
  const parts = [
    message.channel,
    ...[message.header, message.parent_header, message.metadata, message.content].map((part) => JSON.stringify(part)),
  ].map((text) => Buffer.from(text, 'utf8'));
  const count = parts.length + 1;
  const head = Buffer.alloc(8 * (1 + count));
  head.writeBigUInt64LE(BigInt(count), 0);
  let offset = head.length;
  head.writeBigUInt64LE(BigInt(offset), 8);
  parts.forEach((part, i) => {
    offset += part.length;
    head.writeBigUInt64LE(BigInt(offset), 8 * (i + 2));
  });
  return Buffer.concat([head, ...parts]);
}

/** A v1 frame as a plain message object (buffers dropped: no message the kernel reads has any); null if malformed. */
export function decodeV1(frame: Buffer): Record<string, unknown> | null {
  try {
    const count = Number(frame.readBigUInt64LE(0));
    if (count < PARTS + 1 || 8 * (1 + count) > frame.length) return null;
    const offsets = Array.from({ length: count }, (_, i) => Number(frame.readBigUInt64LE(8 * (i + 1))));
    const part = (i: number): string => frame.subarray(offsets[i], offsets[i + 1]).toString('utf8');
    if (offsets.some((offset, i) => offset > frame.length || (i > 0 && offset < offsets[i - 1]!))) return null;
    return {
      channel: part(0),
      header: JSON.parse(part(1)) as unknown,
      parent_header: JSON.parse(part(2)) as unknown,
      metadata: JSON.parse(part(3)) as unknown,
      content: JSON.parse(part(4)) as unknown,
    };
  } catch {
    return null; // too short for its offsets, or a part that is not JSON
  }
}

/** The subprotocol the server selects: v1 for a kernel's channels when the client offers it, none otherwise. */
export function selectSubprotocol(offered: Set<string>, url: string | undefined): string | false {
  return offered.has(V1_PROTOCOL) && /\/api\/kernels\/[^/]+\/channels(\?|$)/.test(url ?? '') ? V1_PROTOCOL : false;
}
