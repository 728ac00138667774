import { readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from 'pino';

/** A session folder: pyrepl3-<host pid>-<session id>-<random> (src/process/python-process.ts). */
const SESSION_FOLDER = /^pyrepl3-(\d+)-s\d+-/;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: alive, but someone else's.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes the session folders that servers which died (SIGKILL, a crash) left in the temporary
 * directory: those of this user whose host process is gone. A live host's folders, or another
 * user's, are left alone. Returns how many were removed.
 */
export async function removeLeftoverSessionFolders(logger: Logger, dir = tmpdir()): Promise<number> {
  const uid = process.getuid?.() ?? -1;
  let removed = 0;
  for (const name of await readdir(dir)) {
    const pid = Number(SESSION_FOLDER.exec(name)?.[1] ?? NaN);
    if (Number.isNaN(pid) || pid === process.pid || alive(pid)) continue;
    const path = join(dir, name);
    try {
      if ((await stat(path)).uid !== uid) continue;
      await rm(path, { recursive: true, force: true });
      removed++;
    } catch (error) {
      logger.warn({ err: error, path }, 'could not remove a leftover session folder');
    }
  }
  if (removed > 0) logger.info({ removed }, 'removed the session folders of servers that died');
  return removed;
}
