import { KernelManager, ServerConnection, SessionManager, type Kernel, type KernelMessage } from '@jupyterlab/services';
import WebSocket from 'ws';
import type { StartedServer } from '../../src/server/index.js';

/** @jupyterlab/services (the client inside JupyterLab 4) pointed at a server, with `ws` as its WebSocket. */
export function servicesSettings(baseUrl: string, token: string): ServerConnection.ISettings {
  return ServerConnection.makeSettings({
    baseUrl: `${baseUrl}/`,
    wsUrl: `${baseUrl.replace(/^http/, 'ws')}/`,
    token,
    appendToken: true,
    WebSocket: WebSocket as unknown as typeof globalThis.WebSocket,
  });
}

/** Kernel and session managers that are disposed after the test. */
export function clients(server: StartedServer | string, token: string): { kernels: KernelManager; sessions: SessionManager } {
  const baseUrl = typeof server === 'string' ? server : server.url;
  const serverSettings = servicesSettings(baseUrl, token);
  const kernels = new KernelManager({ serverSettings });
  const sessions = new SessionManager({ serverSettings, kernelManager: kernels });
  disposables.push(sessions, kernels);
  return { kernels, sessions };
}

const disposables: (KernelManager | SessionManager)[] = [];

/** Disposes the managers once their first poll is over (disposing one mid-poll rejects it unhandled). */
export async function disposeClients(): Promise<void> {
  const managers = disposables.splice(0);
  await Promise.allSettled(managers.map((m) => m.ready));
  for (const m of managers) m.dispose();
}

export interface CellRun {
  reply: KernelMessage.IExecuteReplyMsg;
  iopub: KernelMessage.IIOPubMessage[];
}

/** Runs a cell as JupyterLab does: done once both the reply and the idle status have arrived. */
export async function runCell(kernel: Kernel.IKernelConnection, code: string): Promise<CellRun> {
  const iopub: KernelMessage.IIOPubMessage[] = [];
  const future = kernel.requestExecute({ code });
  future.onIOPub = (message) => {
    iopub.push(message);
  };
  const reply = await future.done;
  return { reply, iopub };
}

interface IOPubByType {
  status: KernelMessage.IStatusMsg;
  stream: KernelMessage.IStreamMsg;
  display_data: KernelMessage.IDisplayDataMsg;
  update_display_data: KernelMessage.IUpdateDisplayDataMsg;
  clear_output: KernelMessage.IClearOutputMsg;
  execute_result: KernelMessage.IExecuteResultMsg;
  error: KernelMessage.IErrorMsg;
}

export function ofType<T extends keyof IOPubByType>(run: CellRun, type: T): IOPubByType[T][] {
  return run.iopub.filter((m) => m.header.msg_type === type) as IOPubByType[T][];
}
