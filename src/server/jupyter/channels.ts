import type { FastifyInstance } from 'fastify';
import type { RawData, WebSocket } from 'ws';
import type { Tenant } from '../auth.js';
import { tenantOf } from '../context.js';
import type { Kernel, KernelSocket } from './kernel.js';
import type { KernelManager } from './manager.js';
import { parseClientMessage, toClientMessage, type ClientMessage } from './messages.js';
import { decodeV1, encodeV1, V1_PROTOCOL } from './v1.js';

/**
 * WS /api/kernels/{id}/channels: Jupyter messages as JSON text frames (the legacy protocol, which
 * every client speaks), or as v1.kernel.websocket.jupyter.org binary frames when the client asks
 * for that subprotocol (v1.ts). The
 * kernel is checked before the upgrade (404 as plain HTTP). Closing a socket leaves the kernel
 * and its running cell alone.
 */
export function channelsRoute(app: FastifyInstance, manager: KernelManager): void {
  app.get<{ Params: { kernelId: string } }>(
    '/kernels/:kernelId/channels',
    {
      websocket: true,
      preValidation: async (request) => {
        manager.get(tenantOf(request), request.params.kernelId);
      },
    },
    (socket: WebSocket, request) => {
      request.raw.socket.setNoDelay(true);
      const tenant = tenantOf(request);
      const kernel = manager.find(tenant, request.params.kernelId);
      if (kernel === null) {
        socket.close(4004, 'kernel deleted'); // between the check before the upgrade and now
        return;
      }
      const log = request.log.child({ tenant: tenant.name, kernelId: kernel.id });
      const v1 = socket.protocol === V1_PROTOCOL;
      const peer: KernelSocket = {
        send: (message) => {
          if (socket.readyState === socket.OPEN) socket.send(v1 ? encodeV1(message) : JSON.stringify(message));
        },
        close: () => socket.close(1000, 'kernel deleted'),
      };
      kernel.sockets.add(peer);
      log.info('kernel socket opened');
      socket.on('message', (data: RawData, isBinary: boolean) => {
        const message = isBinary && v1 ? toClientMessage(decodeV1(bufferOf(data))) : parseClientMessage(bufferOf(data).toString('utf8'));
        if (message === null) {
          log.debug('kernel socket: a frame that is not a Jupyter message was ignored');
          return;
        }
        if (message.channel === 'control') control(manager, kernel, peer, message, tenant);
        else kernel.receive(peer, message);
      });
      socket.on('close', () => {
        kernel.sockets.delete(peer);
        log.info('kernel socket closed');
      });
      socket.on('error', (error) => log.warn({ err: error }, 'kernel socket error'));
    },
  );
}

/** Control requests bypass the queue: an interrupt must reach a kernel that is busy. */
function control(manager: KernelManager, kernel: Kernel, peer: KernelSocket, message: ClientMessage, tenant: Tenant): void {
  const type = message.header.msg_type;
  if (type === 'interrupt_request') {
    kernel.interrupt();
    kernel.reply(peer, message, 'interrupt_reply', { status: 'ok' });
    return;
  }
  if (type === 'shutdown_request') {
    const restart = message.content.restart === true;
    kernel.reply(peer, message, 'shutdown_reply', { status: 'ok', restart });
    kernel.publish('shutdown_reply', { status: 'ok', restart }, message);
    const done = restart ? manager.restart(tenant, kernel.id) : manager.delete(tenant, kernel.id);
    done.catch(() => undefined); // the kernel already tells its sockets when it cannot go on
    return;
  }
  kernel.receive(peer, message); // kernel_info and the like on control are answered as on shell
}

function bufferOf(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}
