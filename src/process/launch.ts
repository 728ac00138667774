import type { Socket } from 'node:net';
import { execa } from 'execa';
import { workerBootstrap } from '../python/worker-path.js';
import type { Containment } from '../sandbox/containment.js';

export interface WorkerExit {
  exitCode: number | null;
  signal: string | null;
  /** Set when the process could not be started at all. */
  spawnError?: string;
}

/** A running worker process, however it was started (exec'd by the host or forked by a template). */
export interface LaunchedWorker {
  pid: number | undefined;
  /** The worker's protocol channel: newline-delimited JSON both ways. Paused until read. */
  channel: Socket;
  /** Calls `listener` once, when the OS process is gone. */
  onExit(listener: (exit: WorkerExit) => void): void;
  /** The tail of what the interpreter wrote to its own stderr (exec'd workers only). */
  diagnostics(): string;
  /** A sandboxed worker's hold; `pid` is then its sandbox's monitor until the worker is admitted. */
  containment?: Containment;
}

/** A command that runs the interpreter in its sandbox: bubblewrap and its arguments, and where the worker is in there. */
export interface Wrapper {
  command: string;
  args: string[];
  workerDir: string;
}

const DIAGNOSTICS_CHARS = 4096;

/** Starts the worker (`python -u -c <bootstrap> ...args`) as a child of the host, with the channel on fd 3. */
export function execWorker(
  executable: string,
  args: string[],
  env: Record<string, string>,
  cwd: string,
  wrapper?: Wrapper,
): LaunchedWorker {
  const command = [executable, '-u', '-c', workerBootstrap(wrapper?.workerDir), ...args];
  const child = execa(wrapper?.command ?? executable, wrapper ? [...wrapper.args, ...command] : command.slice(1), {
    stdio: ['ignore', 'ignore', 'pipe', 'pipe'],
    env,
    extendEnv: false,
    cwd,
    // Its own process group: an interrupt or a kill reaches the children user code started,
    // and a Ctrl-C meant for the host does not reach the sessions.
    detached: true,
    buffer: false,
    reject: false,
  });
  let diagnostics = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (text: string) => {
    diagnostics = (diagnostics + text).slice(-DIAGNOSTICS_CHARS);
  });
  return {
    pid: child.pid,
    channel: child.stdio[3] as Socket,
    onExit(listener) {
      let reported = false;
      const report = (exit: WorkerExit): void => {
        if (reported) return;
        reported = true;
        listener(exit);
      };
      // 'exit' rather than the promise: a grandchild that inherited a pipe must not delay the news.
      child.once('exit', (exitCode, signal) => report({ exitCode, signal }));
      void child.then((result) => {
        if (result.failed && result.exitCode === undefined && result.signal === undefined) {
          report({ exitCode: null, signal: null, spawnError: result.shortMessage ?? 'the process could not be started' });
        }
      });
    },
    diagnostics: () => diagnostics,
  };
}
