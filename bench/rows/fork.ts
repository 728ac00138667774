import { readFile } from 'node:fs/promises';
import { ForkFloor } from '../anchors/fork-floor.js';
import { compare, figure, type Goal } from '../compare.js';
import { processMemory, type ProcessMemory } from '../memory.js';
import type { Comparison, Row } from '../model.js';
import { pyreplLogger } from '../pyrepl.js';
import { interleave, median, nowMs } from '../stats.js';
import { SessionPool } from '../../src/index.js';

/** The two warmups of issue 8: common imports, and one that takes 0.5 s without importing much. */
const IMPORTS = ['json', 'decimal', 'asyncio', 'email.mime.text', 'http.client'];
const WARMUPS = {
  imports: { label: 'warmup of common imports', code: `import ${IMPORTS.join(', ')}`, floor: { imports: IMPORTS } },
  sleep: { label: 'warmup of 0.5 s', code: 'import time; time.sleep(0.5)', floor: { imports: ['time'] } },
} as const;
type WarmupKey = keyof typeof WARMUPS;
const MODES = ['fork', 'exec'] as const;
type Mode = (typeof MODES)[number];

const READY_GOAL_MS = 10;
const FLOOR_LIMIT = 1.5;
const RECYCLE_SESSIONS = 4;
const RECYCLE_GOAL_PER_S = 100;
const MEMORY_SESSIONS = 4;
const SETTLE_MS = 300;
const KiB_PER_MiB = 1024;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function parentPid(pid: number): Promise<number | null> {
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    return Number(/^PPid:\s+(\d+)/m.exec(status)?.[1] ?? Number.NaN);
  } catch {
    return null;
  }
}

/** Tallies, per fork-mode pool, sessions whose parent was not the template (an exec fallback). */
class Lineage {
  checked = 0;
  notForked = 0;
  add(forked: boolean): void {
    this.checked++;
    if (!forked) this.notForked++;
  }
}

/**
 * Session ready time in a running pool (minIdle 1, template already up): each sample destroys the
 * idle session and times its replacement from `sessionSpawned` to `sessionReady`, in ms. In fork
 * mode each new session's parent must be the template (checked after the timing).
 */
class ReadyProbe {
  readonly #spawned = new Map<string, number>();
  #onReady: ((ready: { ms: number; pid: number }) => void) | null = null;
  templatePid: number | null = null;
  readonly lineage = new Lineage();

  private constructor(
    readonly pool: SessionPool,
    readonly mode: Mode,
  ) {
    pool.on('templateReady', ({ pid }) => (this.templatePid = pid));
    pool.on('sessionSpawned', ({ sessionId }) => this.#spawned.set(sessionId, nowMs()));
    pool.on('sessionReady', ({ sessionId, pid }) => {
      const t0 = this.#spawned.get(sessionId);
      this.#spawned.delete(sessionId);
      if (t0 !== undefined) this.#onReady?.({ ms: nowMs() - t0, pid });
    });
  }

  static async open(python: string, mode: Mode, warmupCode: string): Promise<ReadyProbe> {
    const pool = new SessionPool({
      minIdle: 1,
      maxSessions: 2,
      healthCheckIntervalMs: 0,
      logger: pyreplLogger,
      pythonPath: python,
      spawn: mode,
      warmupCode,
    });
    const probe = new ReadyProbe(pool, mode);
    try {
      await pool.start();
    } catch (error) {
      await pool.shutdown();
      throw error;
    }
    return probe;
  }

  async sample(): Promise<number> {
    const session = await this.pool.acquire();
    const ready = new Promise<{ ms: number; pid: number }>((resolve) => (this.#onReady = resolve));
    await session.destroy();
    const { ms, pid } = await ready;
    this.#onReady = null;
    if (this.mode === 'fork') this.lineage.add(this.templatePid !== null && (await parentPid(pid)) === this.templatePid);
    return ms;
  }

  close(): Promise<void> {
    return this.pool.shutdown();
  }
}

const readyGoal: Goal = {
  text: `< ${READY_GOAL_MS} ms median and within ${FLOOR_LIMIT}x the fork floor`,
  test: (s, r) => (r === null ? null : s.median < READY_GOAL_MS && r <= FLOOR_LIMIT),
};

/** A recycle pool kept across rounds: every cycle's holder reports its own pid and parent. */
class RecycleLoop {
  templatePid: number | null = null;
  readonly pids = new Set<number>();
  cycles = 0;
  /** Cycles whose Python pid was not the session's pid, or was seen before (not a fresh process). */
  reused = 0;
  readonly lineage = new Lineage();

  private constructor(
    readonly pool: SessionPool,
    readonly mode: Mode,
  ) {
    pool.on('templateReady', ({ pid }) => (this.templatePid = pid));
  }

  static async open(python: string, mode: Mode, warmupCode: string): Promise<RecycleLoop> {
    const pool = new SessionPool({
      minIdle: RECYCLE_SESSIONS,
      maxSessions: RECYCLE_SESSIONS,
      releasePolicy: 'recycle',
      acquireTimeoutMs: 60_000,
      healthCheckIntervalMs: 0,
      logger: pyreplLogger,
      pythonPath: python,
      spawn: mode,
      warmupCode,
    });
    const loop = new RecycleLoop(pool, mode);
    try {
      await pool.start();
    } catch (error) {
      await pool.shutdown();
      throw error;
    }
    return loop;
  }

  /**
   * RECYCLE_SESSIONS holders loop acquire, execute, release for `seconds`; returns cycles per second
   * completed after the first quarter (the sessions idle at the start would otherwise count free).
   */
  async round(seconds: number): Promise<number> {
    const t0 = nowMs();
    const end = t0 + seconds * 1000;
    const from = t0 + (seconds * 1000) / 4;
    let counted = 0;
    const holder = async (): Promise<void> => {
      while (nowMs() < end) {
        const session = await this.pool.acquire();
        try {
          const result = await session.execute('import os; (os.getpid(), os.getppid())');
          const [pid, ppid] = (result.value ?? '(0, 0)').slice(1, -1).split(',').map(Number) as [number, number];
          if (pid !== session.pid || this.pids.has(pid)) this.reused++;
          this.pids.add(pid);
          if (this.mode === 'fork') this.lineage.add(ppid === this.templatePid);
        } finally {
          await session.release();
        }
        this.cycles++;
        if (nowMs() >= from) counted++;
      }
    };
    await Promise.all(Array.from({ length: RECYCLE_SESSIONS }, holder));
    const measuredMs = Math.max(nowMs(), end) - from;
    // Let the pool refill before the next contestant runs, so that it does not pay for this one.
    await this.#refilled();
    return (counted * 1000) / measuredMs;
  }

  async #refilled(): Promise<void> {
    const deadline = nowMs() + 10_000;
    while (this.pool.metrics().idle < RECYCLE_SESSIONS && nowMs() < deadline) await sleep(20);
  }

  close(): Promise<void> {
    return this.pool.shutdown();
  }
}

interface MemoryGroup {
  sessions: ProcessMemory[];
  template: ProcessMemory | null;
  forked: number;
}

/** A fresh pool of MEMORY_SESSIONS idle sessions, measured SETTLE_MS after it is ready, then shut down. */
async function memoryGroup(python: string, mode: Mode, warmupCode: string): Promise<MemoryGroup> {
  const pool = new SessionPool({
    minIdle: MEMORY_SESSIONS,
    maxSessions: MEMORY_SESSIONS,
    healthCheckIntervalMs: 0,
    logger: pyreplLogger,
    pythonPath: python,
    spawn: mode,
    warmupCode,
  });
  const pids: number[] = [];
  let templatePid: number | null = null;
  pool.on('templateReady', ({ pid }) => (templatePid = pid));
  pool.on('sessionReady', ({ pid }) => pids.push(pid));
  try {
    await pool.start();
    await sleep(SETTLE_MS);
    const sessions = await Promise.all(pids.map((pid) => processMemory(pid)));
    const template = templatePid === null ? null : await processMemory(templatePid);
    const parents = await Promise.all(pids.map((pid) => parentPid(pid)));
    return { sessions, template, forked: parents.filter((p) => p !== null && p === templatePid).length };
  } finally {
    await pool.shutdown();
  }
}

export const forkRow: Row = {
  id: 8,
  key: 'fork',
  title: "Fork mode (spawn: 'fork'): session ready time beside a bare os.fork(), recycle throughput, memory",
  async run({ quick, python, progress }) {
    const comparisons: Comparison[] = [];
    const notes: string[] = [];
    const lineage = new Lineage();

    // 1. Ready time, fork and exec, for both warmups, interleaved with the fork floor.
    const probes: ReadyProbe[] = [];
    const floors: ForkFloor[] = [];
    let ready: Record<string, number[]> = {};
    const floorDetail: Record<string, { reapMs: number[]; childMs: number[] }> = {};
    try {
      const contestants: Record<string, () => Promise<number>> = {};
      for (const key of Object.keys(WARMUPS) as WarmupKey[]) {
        const warmup = WARMUPS[key];
        const floor = await ForkFloor.start(python, warmup.floor);
        floors.push(floor);
        const detail = { reapMs: [] as number[], childMs: [] as number[] };
        floorDetail[key] = detail;
        contestants[`floor.${key}`] = async () => {
          const s = await floor.sample();
          detail.reapMs.push(s.reapMs);
          detail.childMs.push(s.childMs);
          return s.ms;
        };
        for (const mode of MODES) {
          const probe = await ReadyProbe.open(python, mode, warmup.code);
          probes.push(probe);
          contestants[`${mode}.${key}`] = () => probe.sample();
        }
      }
      progress('session ready time: fork and exec, two warmups, beside the fork floor');
      const warmupRounds = quick ? 1 : 3;
      ready = await interleave(contestants, { rounds: quick ? 3 : 30, warmup: warmupRounds });
      // interleave dropped the warm-up rounds from its own output, not from floorDetail: drop them here.
      for (const detail of Object.values(floorDetail)) {
        detail.reapMs.splice(0, warmupRounds);
        detail.childMs.splice(0, warmupRounds);
      }
    } finally {
      for (const probe of probes) {
        lineage.checked += probe.lineage.checked;
        lineage.notForked += probe.lineage.notForked;
        await probe.close();
      }
      for (const floor of floors) await floor.close();
    }
    for (const key of Object.keys(WARMUPS) as WarmupKey[]) {
      const warmup = WARMUPS[key];
      const floorLabel = `bare os.fork() of a Python process that ran the same ${key === 'imports' ? 'imports' : 'imports (time)'}, child answers a ping over a pipe`;
      const floor = figure(floorLabel, ready[`floor.${key}`] ?? [], python);
      const fork = figure('PyREPL3 (fork)', ready[`fork.${key}`] ?? [], python);
      const exec = figure('PyREPL3 (exec)', ready[`exec.${key}`] ?? [], python);
      comparisons.push(
        compare(`session ready, ${warmup.label} (fork) vs the fork floor`, 'ms', fork, floor, { goal: readyGoal }),
        compare(`session ready, ${warmup.label}: fork vs exec`, 'ms', fork, {
          ...exec,
          label: 'PyREPL3 (exec): a new interpreter runs the warmup',
        }),
      );
      const detail = floorDetail[key];
      if (detail) {
        notes.push(
          `Fork floor, ${warmup.label}: fork() to the child's first instruction ${median(detail.childMs).toFixed(2)} ms, to the ping answered ${median(ready[`floor.${key}`] ?? []).toFixed(2)} ms, to the child reaped ${median(detail.reapMs).toFixed(2)} ms (medians).`,
        );
      }
    }
    comparisons.push(
      compare(
        'session ready (fork): 0.5 s warmup vs the imports warmup',
        'ms',
        figure('PyREPL3 (fork), warmup of 0.5 s', ready['fork.sleep'] ?? [], python),
        figure('PyREPL3 (fork), warmup of common imports', ready['fork.imports'] ?? [], python),
      ),
    );

    // 2. Recycle throughput at maxSessions 4, fork vs exec.
    const seconds = quick ? 1 : 3;
    const loops: Partial<Record<Mode, RecycleLoop>> = {};
    let rates: Record<string, number[]> = {};
    try {
      for (const mode of MODES) loops[mode] = await RecycleLoop.open(python, mode, WARMUPS.imports.code);
      progress(`releasePolicy 'recycle', ${RECYCLE_SESSIONS} holders: rounds of ${seconds} s, fork and exec in turn`);
      rates = await interleave(Object.fromEntries(MODES.map((mode) => [mode, () => loops[mode]!.round(seconds)])), {
        rounds: quick ? 1 : 5,
        warmup: quick ? 0 : 1,
      });
    } finally {
      for (const loop of Object.values(loops)) await loop.close();
    }
    const forkLoop = loops.fork;
    const execLoop = loops.exec;
    const fresh = (loop: RecycleLoop | undefined): boolean => loop !== undefined && loop.cycles > 0 && loop.reused === 0;
    const recycleGoal: Goal = {
      text: `≥ ${RECYCLE_GOAL_PER_S} cycles/s, each holder in a fresh process`,
      test: (s) => s.median >= RECYCLE_GOAL_PER_S && fresh(forkLoop),
    };
    comparisons.push(
      compare(
        `releasePolicy 'recycle', maxSessions ${RECYCLE_SESSIONS}: acquire, execute, release cycles per second`,
        'cycles/s',
        figure('PyREPL3 (fork, recycle)', rates.fork ?? [], python),
        figure('PyREPL3 (exec, recycle)', rates.exec ?? [], python),
        { lowerIsBetter: false, goal: recycleGoal },
      ),
    );
    if (forkLoop) {
      lineage.checked += forkLoop.lineage.checked;
      lineage.notForked += forkLoop.lineage.notForked;
    }
    for (const loop of [forkLoop, execLoop]) {
      if (loop === undefined) continue;
      notes.push(
        `Recycle (${loop.mode}): ${loop.cycles} cycles in all, ${loop.pids.size} distinct Python pids; ${loop.reused === 0 ? 'every holder ran in a fresh process (its os.getpid() was new and equal to session.pid)' : `**${loop.reused} cycles ran in a process seen before**`}.`,
      );
    }

    // 3. Memory: PSS per idle session, fork vs exec, after the imports warmup.
    progress(`memory: ${MEMORY_SESSIONS} idle sessions, fork and exec, each group alone`);
    const groups: Record<Mode, MemoryGroup[]> = { fork: [], exec: [] };
    await interleave(
      Object.fromEntries(
        MODES.map((mode) => [
          mode,
          async () => {
            const group = await memoryGroup(python, mode, WARMUPS.imports.code);
            groups[mode].push(group);
            if (mode === 'fork') lineage.add(group.forked === group.sessions.length);
            return 0;
          },
        ]),
      ),
      { rounds: quick ? 1 : 3, warmup: 0 },
    );
    const mib = (values: number[]): number[] => values.map((kib) => kib / KiB_PER_MiB);
    const perSession = (mode: Mode, field: keyof ProcessMemory) => mib(groups[mode].flatMap((g) => g.sessions.map((m) => m[field])));
    const templates = groups.fork.flatMap((g) => (g.template ? [g.template] : []));
    const execPss = figure(`PyREPL3 (exec): one of ${MEMORY_SESSIONS} idle exec'd sessions`, perSession('exec', 'pssKiB'), python);
    comparisons.push(
      compare(
        `PSS per idle session, ${MEMORY_SESSIONS} sessions, warmup of common imports: fork vs exec`,
        'MiB',
        figure(`PyREPL3 (fork): one of ${MEMORY_SESSIONS} idle forked sessions`, perSession('fork', 'pssKiB'), python),
        execPss,
      ),
      compare(
        `PSS of the fork template (beside ${MEMORY_SESSIONS} forked sessions) vs one exec'd session`,
        'MiB',
        figure('PyREPL3 (fork): the template process', mib(templates.map((m) => m.pssKiB)), python),
        execPss,
      ),
      compare(
        `PSS of the whole pool per session (fork: template + ${MEMORY_SESSIONS} sessions, / ${MEMORY_SESSIONS}) vs exec`,
        'MiB',
        figure(
          'PyREPL3 (fork), template included',
          mib(groups.fork.map((g) => (g.sessions.reduce((a, m) => a + m.pssKiB, 0) + (g.template?.pssKiB ?? 0)) / g.sessions.length)),
          python,
        ),
        figure(
          'PyREPL3 (exec), per session',
          mib(groups.exec.map((g) => g.sessions.reduce((a, m) => a + m.pssKiB, 0) / g.sessions.length)),
          python,
        ),
      ),
      compare(
        `RSS per idle session, ${MEMORY_SESSIONS} sessions: fork vs exec (shared pages counted in full)`,
        'MiB',
        figure('PyREPL3 (fork)', perSession('fork', 'rssKiB'), python),
        figure('PyREPL3 (exec)', perSession('exec', 'rssKiB'), python),
      ),
    );
    notes.push(
      `USS (private pages) per idle session: fork ${median(perSession('fork', 'ussKiB')).toFixed(2)} MiB, exec ${median(perSession('exec', 'ussKiB')).toFixed(2)} MiB (medians).`,
      `Ready time: a running pool (minIdle 1, maxSessions 2, template already up) per mode and warmup; each sample destroys the idle session and times its replacement from \`sessionSpawned\` to \`sessionReady\`. The fork floor (\`bench/anchors/fork_floor.py\`) is a long-lived Python process that imported the same modules (for the 0.5 s warmup: \`time\`); per sample it os.fork()s a child that answers a ping over a pipe, and times fork to answer on its own clock (host overhead excluded). All six contestants are interleaved, ${quick ? 3 : 30} rounds after ${quick ? 1 : 3} discarded.`,
      `Warmups: \`${WARMUPS.imports.code}\` and \`${WARMUPS.sleep.code}\`.`,
      `Recycle: a pool with releasePolicy 'recycle', minIdle = maxSessions = ${RECYCLE_SESSIONS} and the imports warmup; ${RECYCLE_SESSIONS} holders loop acquire, execute \`import os; (os.getpid(), os.getppid())\`, release. A sample is a round of ${seconds} s; cycles are counted after its first quarter (the idle sessions at the start would count free); the pool refills before the other mode runs.`,
      `Memory: a fresh pool of ${MEMORY_SESSIONS} idle sessions per sample, measured alone ${SETTLE_MS} ms after it is ready (PSS splits shared pages among the template and its forked children, and the interpreter's file pages among everyone mapping them).`,
      `Fork lineage: ${lineage.checked - lineage.notForked} of ${lineage.checked} checks found fork-mode sessions to be children of the template${lineage.notForked ? ` (**${lineage.notForked} were not: an exec fallback**)` : ''}.`,
    );
    return { comparisons, notes };
  },
};
