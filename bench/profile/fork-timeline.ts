/**
 * Where a fork-mode session start spends its time: host events and Python-side timestamps on one
 * clock (CLOCK_MONOTONIC: Node's hrtime and Python's time.clock_gettime agree on Linux).
 *   node dist/bench/profile/fork-timeline.js [samples] [imports|sleep|none]
 *   node --cpu-prof --cpu-prof-dir=/tmp/pyrepl3-prof dist/bench/profile/fork-timeline.js 300
 * The template is instrumented through its warmupCode (nothing in src/ changes): the warmup wraps
 * the worker's own functions, found from the frame that runs the warmup, to stamp each step of a
 * fork, and each child appends its stamps to a JSON-lines file.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ForkServer } from '../../src/process/fork-server.js';
import { pyreplLogger } from '../pyrepl.js';
import { appendTo, median, nowMs } from '../stats.js';
import { SessionPool } from '../../src/index.js';

const WARMUPS: Record<string, string> = {
  imports: 'import json, decimal, asyncio, email.mime.text, http.client',
  sleep: 'import time; time.sleep(0.5)',
  none: '',
};

/** Python run as (the start of) the template's warmupCode; `path` is where stamps go. */
function instrumentation(path: string): string {
  return `
def _pyrepl3_timeline(path):
    import sys, time, json, os
    w = sys._getframe(2).f_globals  # 0: here, 1: <warmup>, 2: the worker's _run_warmup
    now = lambda: time.clock_gettime_ns(time.CLOCK_MONOTONIC) / 1e6
    marks = {}
    T, C = w["Template"], w["Channel"]
    handle, become, fork_ = T._handle, T._become_session, os.fork
    reseed, serve, send = w["_reseed_generators"], w["_serve_session"], C.write_frame
    def _handle(self, request):
        marks.clear(); marks["t.request"] = now(); return handle(self, request)
    def _fork():
        marks["t.fork"] = now(); pid = fork_()
        marks["c.forked" if pid == 0 else "t.forkReturned"] = now(); return pid
    def _become(self, request):
        marks["c.become"] = now(); return become(self, request)
    def _reseed():
        marks["c.helloSent"] = now(); return reseed()
    def _serve(*args, **kwargs):
        marks["c.serveSession"] = now(); return serve(*args, **kwargs)
    def _send(self, frame):
        op = frame.get("op")
        if op == "ready" and "c.forked" in marks:
            # Stamps are saved before the frame goes out: the host may kill the session right after.
            import resource
            marks["minorFaults"] = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            marks["c.readyWrite"] = now()
            with open(path, "a") as f: f.write(json.dumps({"pid": os.getpid(), **marks}) + "\\n")
            return send(self, frame)
        if op == "forked":
            marks["t.forkedWrite"] = now()
        return send(self, frame)
    def stamp(cls, name, key):  # stamps the end of cls.name (or of the function w[name])
        inner = getattr(cls, name) if cls is not None else w[name]
        def wrapped(*args, **kwargs):
            result = inner(*args, **kwargs)
            if "c.forked" in marks: marks[key] = now()
            return result
        if cls is not None: setattr(cls, name, wrapped)
        else: w[name] = wrapped
    stamp(w["OutputCapture"], "start", "c.captureStarted")
    stamp(w["_CapturedStream"], "__init__", "c.streamsMade")
    stamp(w["threading"].Thread, "start", "c.threadStarted")
    stamp(w["Session"], "__init__", "c.sessionMade")
    stamp(w["Session"], "install_interrupt_handler", "c.handlerInstalled")
    stamp(None, "_apply_limits", "c.limitsApplied")
    stamp(None, "_set_parent_death_signal", "c.deathSignal")
    T._handle, T._become_session, os.fork = _handle, _become, _fork
    w["_reseed_generators"], w["_serve_session"], C.write_frame = _reseed, _serve, _send
_pyrepl3_timeline(${JSON.stringify(path)})
del _pyrepl3_timeline
`;
}

interface HostMarks {
  /** The pool calls ForkServer.fork() first, then emits sessionSpawned. */
  forkCalled: number;
  spawned: number;
  ready?: number;
  pid?: number;
}

async function main(): Promise<void> {
  const samples = Number(process.argv[2] ?? 100);
  const warmup = WARMUPS[process.argv[3] ?? 'imports'] ?? '';
  const dir = mkdtempSync(join(tmpdir(), 'pyrepl3-timeline-'));
  const stamps = join(dir, 'children.jsonl');
  const host: HostMarks[] = [];
  let current: HostMarks | null = null;
  let forkCalled = Number.NaN;
  // Host side: when a session takes its spare from the fork server (a public method, wrapped here, not in src/).
  const handOver = ForkServer.prototype.handOver;
  ForkServer.prototype.handOver = function (this: ForkServer, spareId, config) {
    forkCalled = nowMs();
    return handOver.call(this, spareId, config);
  };
  const pool = new SessionPool({
    minIdle: 1,
    maxSessions: 2,
    healthCheckIntervalMs: 0,
    logger: pyreplLogger,
    spawn: 'fork',
    warmupCode: `${instrumentation(stamps)}\n${warmup}`,
  });
  let onReady: (() => void) | null = null;
  pool.on('sessionSpawned', () => {
    current = { forkCalled, spawned: nowMs() };
  });
  pool.on('sessionReady', ({ pid }) => {
    if (current !== null) {
      current.ready = nowMs();
      current.pid = pid;
      host.push(current);
    }
    current = null;
    onReady?.();
  });
  try {
    await pool.start();
    host.length = 0;
    const t0 = nowMs();
    for (let i = 0; i < samples; i++) {
      const session = await pool.acquire();
      const ready = new Promise<void>((resolve) => (onReady = resolve));
      await session.destroy();
      await ready;
    }
    process.stdout.write(`${samples} fork starts in ${((nowMs() - t0) / 1000).toFixed(2)} s\n`);
  } finally {
    await pool.shutdown();
  }
  const children = new Map<number, Record<string, number>>();
  for (const line of readFileSync(stamps, 'utf8').split('\n')) {
    if (!line) continue;
    const marks = JSON.parse(line) as Record<string, number>;
    children.set(marks.pid!, marks);
  }
  rmSync(dir, { recursive: true, force: true });
  const steps: Array<[string, string, string]> = [
    ['host: ForkServer.fork() -> sessionSpawned emitted (before the measured span)', 'h.forkCalled', 'h.spawned'],
    ['host -> template: fork request read and parsed', 'h.forkCalled', 't.request'],
    ['template: request -> os.fork() called', 't.request', 't.fork'],
    ['os.fork(): call -> child runs', 't.fork', 'c.forked'],
    ['child: setsid, signals, connect, dup2, hello written', 'c.forked', 'c.helloSent'],
    ['child: hello -> _serve_session()', 'c.helloSent', 'c.serveSession'],
    ['child: _serve_session() -> stdout/stderr pipes made and dup2ed', 'c.serveSession', 'c.streamsMade'],
    ['child: -> output reader thread started', 'c.streamsMade', 'c.threadStarted'],
    ['child: -> output capture start returned', 'c.threadStarted', 'c.captureStarted'],
    ['child: -> Session() made', 'c.captureStarted', 'c.sessionMade'],
    ['child: -> SIGINT handler installed', 'c.sessionMade', 'c.handlerInstalled'],
    ['child: -> limits applied', 'c.handlerInstalled', 'c.limitsApplied'],
    ['child: -> ready frame about to be written', 'c.limitsApplied', 'c.readyWrite'],
    ['child: ready frame written -> host sessionReady', 'c.readyWrite', 'h.ready'],
    ['measured: sessionSpawned -> sessionReady', 'h.spawned', 'h.ready'],
    ['total: ForkServer.fork() -> sessionReady', 'h.forkCalled', 'h.ready'],
  ];
  const rows: Record<string, number[]> = {};
  let matched = 0;
  for (const h of host) {
    const c = h.pid === undefined ? undefined : children.get(h.pid);
    if (c === undefined || h.ready === undefined) continue;
    matched++;
    const at: Record<string, number> = { 'h.spawned': h.spawned, 'h.forkCalled': h.forkCalled, 'h.ready': h.ready, ...c };
    for (const [name, from, to] of steps) {
      const a = at[from];
      const b = at[to];
      if (a !== undefined && b !== undefined) appendTo(rows, name, b - a);
    }
  }
  const faults = [...children.values()].map((c) => c.minorFaults ?? Number.NaN);
  process.stdout.write(
    `${matched} of ${host.length} starts matched with their child's stamps; child minor page faults by ready: median ${median(faults)}; medians (ms):\n`,
  );
  for (const [name] of steps) {
    const values = rows[name] ?? [];
    process.stdout.write(`  ${median(values).toFixed(3).padStart(8)}  ${name}\n`);
  }
}

void main();
