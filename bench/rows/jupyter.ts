import { JupyterServerAnchor } from '../anchors/jupyter-server.js';
import { KernelClient } from '../anchors/kernel-client.js';
import { compare, figure, medianAtMost } from '../compare.js';
import type { Comparison, Row } from '../model.js';
import { pyreplLogger } from '../pyrepl.js';
import { interleave, nowMs, timed } from '../stats.js';
import { startServer } from '../../src/server/index.js';

const TOKEN = 'bench-token-0123456789';

/** A server of kernels, seen through the kernels API: PyREPL3 or Jupyter Server. */
interface KernelServer {
  url: string;
  token: string;
}

/** ms from POST /api/kernels until the kernel_info_reply (and idle) over its WebSocket; the kernel is then deleted. */
async function kernelStart(server: KernelServer): Promise<number> {
  const t0 = nowMs();
  const kernel = await KernelClient.start(server.url, server.token);
  const ms = nowMs() - t0;
  await kernel.shutdown();
  return ms;
}

export const jupyterRow: Row = {
  id: 9,
  key: 'jupyter',
  title: 'Jupyter kernels API: kernel start to first reply, and `1+1` over the kernel WebSocket',
  async run({ quick, python, jupyter, progress }) {
    const closers: Array<() => Promise<void>> = [];
    try {
      const pyreplServer = await startServer({
        host: '127.0.0.1',
        port: 0,
        logger: pyreplLogger,
        tokens: [{ token: TOKEN, tenant: 'bench' }],
        poolOptions: { minIdle: 4, maxSessions: 8, pythonPath: jupyter.python ?? python, healthCheckIntervalMs: 0, logger: pyreplLogger },
      });
      closers.push(() => pyreplServer.close({ graceMs: 0 }));
      const pyrepl: KernelServer = { url: pyreplServer.url, token: TOKEN };
      const missing = jupyter.python === null ? jupyter.reason : await JupyterServerAnchor.probe(jupyter.python);
      let anchor: KernelServer | null = null;
      if (missing === null && jupyter.python !== null) {
        const started = await JupyterServerAnchor.start(jupyter.python);
        closers.push(() => started.close());
        anchor = started;
      }
      const held = await KernelClient.start(pyrepl.url, pyrepl.token);
      closers.push(() => held.shutdown());
      const heldAnchor = anchor === null ? null : await KernelClient.start(anchor.url, anchor.token);
      if (heldAnchor !== null) closers.push(() => heldAnchor.shutdown());

      progress(`kernel starts, ${anchor === null ? 'PyREPL3 only' : 'PyREPL3 and Jupyter Server interleaved'}`);
      const starts = await interleave(
        { pyrepl: () => kernelStart(pyrepl), ...(anchor !== null ? { jupyter: () => kernelStart(anchor) } : {}) },
        { rounds: quick ? 3 : 15, warmup: 1 },
      );
      const batch = quick ? 20 : 50;
      progress(`\`1+1\` in batches of ${batch}`);
      const cells = await interleave(
        {
          pyrepl: () => timed(batch, () => held.execute('1+1')),
          ...(heldAnchor !== null ? { jupyter: () => timed(batch, () => heldAnchor.execute('1+1')) } : {}),
        },
        { rounds: quick ? 3 : 20, warmup: 1 },
      );
      const interpreter = jupyter.python ?? python;
      const anchorFigure = (samples: number[] | undefined, label: string) =>
        anchor === null ? null : figure(label, samples ?? [], interpreter);
      const unavailable = missing === null ? {} : { unavailable: missing };
      const comparisons: Comparison[] = [
        compare(
          'kernel start to first reply (POST /api/kernels, WebSocket, kernel_info)',
          'ms',
          figure('PyREPL3 (`pyrepl3 serve`)', starts.pyrepl ?? [], interpreter),
          anchorFigure(starts.jupyter, 'Jupyter Server + ipykernel'),
          {
            goal: medianAtMost(30, '≤ 30 ms'),
            ...unavailable,
          },
        ),
        compare(
          '`1+1` over the kernel WebSocket (execute_reply and idle)',
          'µs',
          figure('PyREPL3 (`pyrepl3 serve`)', cells.pyrepl ?? [], interpreter),
          anchorFigure(cells.jupyter, 'Jupyter Server + ipykernel'),
          {
            goal: medianAtMost(1000, '≤ 1 ms median'),
            ...unavailable,
          },
        ),
      ];
      return {
        comparisons,
        notes: [
          'Both servers are driven by the same Node client over 127.0.0.1: REST with `Authorization: token`, the kernel WebSocket in the JSON protocol (no subprotocol), a request done when its reply and its iopub idle have arrived.',
          'Kernel start: from `POST /api/kernels` until the `kernel_info_reply` and idle over a new WebSocket; the kernel is deleted after each sample, outside the timing. PyREPL3 leases a warm pool session (minIdle 4) and refills the pool in the background; Jupyter Server starts an ipykernel process.',
        ],
      };
    } finally {
      for (const close of closers.reverse()) await close();
    }
  },
};
