import { execFile } from 'node:child_process';
import { request as httpRequest } from 'node:http';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ROOT } from './cli.js';

/** What a client saw: the status and body of the answer, or status 0 and the error that replaced it. */
export interface Seen {
  status: number;
  body: string;
}

function parseBody(body: string): unknown {
  try {
    return JSON.parse(body);
  } catch {
    return body;
  }
}

export const bodyOf = (seen: Seen): any => parseBody(seen.body);

/** One request with Node's http.request; the body is written in one go, as most code does. */
export function nodeRequest(url: string, method: string, path: string, headers: Record<string, string>, body?: Buffer): Promise<Seen> {
  return new Promise((resolve) => {
    const request = httpRequest(url + path, { method, headers, agent: false }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
      response.on('error', (error) => resolve({ status: 0, body: String(error) }));
    });
    request.on('error', (error: NodeJS.ErrnoException) => resolve({ status: 0, body: error.code ?? String(error) }));
    request.end(body);
  });
}

export async function fetchRequest(
  url: string,
  method: string,
  path: string,
  headers: Record<string, string>,
  body?: Buffer,
): Promise<Seen> {
  try {
    const response = await fetch(url + path, { method, headers, ...(body !== undefined ? { body } : {}) });
    return { status: response.status, body: await response.text() };
  } catch (error) {
    return { status: 0, body: String((error as { cause?: unknown }).cause ?? error) };
  }
}

/** COUNT POSTs of SIZE bytes with Python's urllib, in one python3 process. */
export async function urllibPosts(url: string, token: string | null, count: number, size: number): Promise<Seen[]> {
  const script = join(ROOT, 'test/fixtures/urllib_post.py');
  const { stdout } = await promisify(execFile)('python3', [script, url, token ?? '-', String(count), String(size)], {
    maxBuffer: 16 * 1024 * 1024,
  });
  return (JSON.parse(stdout) as [number, string][]).map(([status, body]) => ({ status, body }));
}

/** A raw TCP client: writes what it is told, collects what it receives, and says when the server closed. */
export class RawClient {
  received = '';
  readonly closed: Promise<void>;
  readonly socket: Socket;

  /** keepSending: after the server's FIN, go on sending, as a client that never reads would; otherwise close too. */
  constructor(url: string, options: { keepSending?: boolean } = {}) {
    const { hostname, port } = new URL(url);
    this.socket = connect({ port: Number(port), host: hostname, allowHalfOpen: options.keepSending === true });
    this.socket.on('data', (chunk: Buffer) => (this.received += chunk.toString()));
    this.socket.on('error', () => undefined);
    this.closed = new Promise((resolve) => this.socket.once('close', () => resolve()));
  }

  write(text: string): void {
    this.socket.write(text);
  }
}
