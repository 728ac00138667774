import { fileURLToPath } from 'node:url';
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

/** Debian's interpreter, which has jupyter_server, nbclient, nbconvert, jupyter_kernel_test and matplotlib. */
export const DEBIAN_PYTHON = '/usr/bin/python3';

/** A Jupyter tool's environment: its own config, data and runtime directories, nothing of ours. */
export function toolEnv(home: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    PATH: '/usr/bin:/bin',
    HOME: home,
    LANG: 'C.UTF-8',
    JUPYTER_CONFIG_DIR: `${home}/config`,
    JUPYTER_DATA_DIR: `${home}/data`,
    JUPYTER_RUNTIME_DIR: `${home}/runtime`,
    JUPYTER_PLATFORM_DIRS: '1',
    ...extra,
  };
}

export function notebook(name: string): string {
  return fileURLToPath(new URL(`./notebooks/${name}`, import.meta.url));
}
