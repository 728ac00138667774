import { randomBytes } from 'node:crypto';
import websocket from '@fastify/websocket';
import Fastify from 'fastify';
import type { Logger } from 'pino';
import type { InspectionEvent, Observer } from 'xstate';
import type { WebSocket } from 'ws';
import { requirePeers } from '../peers.js';

/**
 * `pyrepl3 serve --inspect`: the XState inspector of @statelyai/inspect (createWebSocketInspector)
 * attached to the pool's supervisor and every session actor, sending to a relay on loopback.
 *
 * The relay speaks the protocol of @statelyai/inspect/server's createInspectorServer (messages from
 * the inspector are kept in a replay buffer and forwarded to every viewer; GET / is a page that
 * embeds the Stately inspector UI and feeds it from the relay) but, unlike it, binds to 127.0.0.1
 * only, accepts port 0, never opens a browser, refuses WebSocket connections from foreign web
 * origins and relays only what the pool's own inspector sends: the events carry every tenant's
 * code and output.
 *
 * @statelyai/inspect is an optional peer dependency of pyrepl3, imported only here, when an
 * inspector starts: without it startInspector throws MissingDependencyError.
 */

export interface InspectorOptions {
  /** Default 0: a free port. */
  port?: number;
  /** Messages kept for viewers that connect later. Default 1000. */
  bufferSize?: number;
  /** The Stately inspector UI the page embeds (the browser needs internet for it). */
  uiUrl?: string;
  logger?: Logger;
}

export interface InspectorRelay {
  /** The page to open in a browser, e.g. http://127.0.0.1:40123. */
  url: string;
  /** The relay's WebSocket: viewers connect here and receive every inspection event as JSON. */
  wsUrl: string;
  /** The observer to give the pool (SessionPoolOptions.inspect). */
  inspect: Observer<InspectionEvent>;
  /** Stops the inspector, then the relay. Idempotent. */
  close(): Promise<void>;
}

const HOST = '127.0.0.1';
const CONNECT_BOUND_MS = 5_000;
const CLOSE_BOUND_MS = 1_000;

function bridgePage(wsUrl: string, uiUrl: string): string {
  return `<!DOCTYPE html>
<html>
<head><title>PyREPL3 inspector</title>
<style>* { margin: 0; padding: 0; } html, body { height: 100%; } iframe { width: 100%; height: 100%; border: none; }</style>
</head>
<body>
<iframe id="inspector" src="${uiUrl}"></iframe>
<script>
  const iframe = document.getElementById('inspector');
  const buffer = [];
  let connected = false;
  window.addEventListener('message', (e) => {
    if (e.data && e.data.type === '@statelyai.connected') {
      connected = true;
      for (const event of buffer) iframe.contentWindow.postMessage(event, '*');
      buffer.length = 0;
    }
  });
  const ws = new WebSocket(${JSON.stringify(wsUrl)});
  ws.onmessage = (event) => {
    const data = JSON.parse(event.data);
    if (connected) iframe.contentWindow.postMessage(data, '*');
    else buffer.push(data);
  };
</script>
</body>
</html>`;
}

/** Starts the relay on 127.0.0.1 and the inspector; resolves once the inspector is connected. */
export async function startInspector(options: InspectorOptions = {}): Promise<InspectorRelay> {
  await requirePeers('the XState inspector (startInspector, inspect: true, pyrepl3 serve --inspect)', ['inspector']);
  const { createWebSocketInspector } = await import('@statelyai/inspect');
  const bufferSize = options.bufferSize ?? 1000;
  const uiUrl = options.uiUrl ?? 'https://stately.ai/inspect';
  const sourceKey = randomBytes(16).toString('hex');
  const buffer: string[] = [];
  const viewers = new Set<WebSocket>();
  let source: WebSocket | null = null;
  let sourceConnected: () => void = () => undefined;
  const connected = new Promise<void>((resolve) => (sourceConnected = resolve));
  let wsUrl = '';

  const app = Fastify({ logger: false, forceCloseConnections: true });
  await app.register(websocket, { options: { maxPayload: 64 * 1024 * 1024 } });
  app.route({
    method: 'GET',
    url: '/',
    // Only a browser page served by this relay may connect: any other web origin (a site the
    // operator happens to visit) would otherwise read every tenant's code through the browser.
    preValidation: async (request, reply) => {
      const origin = request.headers.origin;
      if (request.headers.upgrade === undefined || origin === undefined) return;
      const { port } = new URL(wsUrl);
      if (origin !== `http://${HOST}:${port}` && origin !== `http://localhost:${port}`) {
        await reply.code(403).send('forbidden origin');
      }
    },
    handler: async (_request, reply) => reply.type('text/html').send(bridgePage(wsUrl, uiUrl)),
    wsHandler: (socket, request) => {
      const query = request.query as Record<string, unknown>;
      if (query.source === sourceKey && source === null) {
        source = socket;
        socket.on('message', (data) => {
          const message = String(data);
          buffer.push(message);
          if (buffer.length > bufferSize) buffer.shift();
          for (const viewer of viewers) if (viewer.readyState === viewer.OPEN) viewer.send(message);
        });
        socket.on('close', () => {
          if (source === socket) source = null;
        });
        sourceConnected();
        return;
      }
      viewers.add(socket);
      for (const message of buffer) socket.send(message);
      socket.on('close', () => viewers.delete(socket));
      socket.on('error', () => viewers.delete(socket));
    },
  });
  await app.listen({ host: HOST, port: options.port ?? 0 });
  const address = app.server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  const url = `http://${HOST}:${port}`;
  wsUrl = `ws://${HOST}:${port}`;

  const inspector = createWebSocketInspector({ url: `${wsUrl}/?source=${sourceKey}`, maxDeferredEvents: bufferSize });
  let timer: NodeJS.Timeout | undefined;
  const inTime = await Promise.race([
    connected.then(() => true),
    new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), CONNECT_BOUND_MS))),
  ]);
  clearTimeout(timer);
  if (!inTime) options.logger?.warn({ url }, 'the inspector did not connect to its relay in time; events are deferred until it does');

  let closing: Promise<void> | null = null;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      // The inspector first: its socket closes cleanly, so it never schedules a reconnect.
      const sourceClosed = source === null ? Promise.resolve() : new Promise<void>((resolve) => source!.once('close', () => resolve()));
      inspector.stop();
      let bound: NodeJS.Timeout | undefined;
      await Promise.race([sourceClosed, new Promise<void>((resolve) => (bound = setTimeout(resolve, CLOSE_BOUND_MS)))]);
      clearTimeout(bound);
      for (const viewer of viewers) viewer.terminate();
      await app.close();
    })();
    return closing;
  };

  return { url, wsUrl, inspect: inspector.inspect, close };
}
