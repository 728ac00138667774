import { describe, expect, it } from 'vitest';
import { SessionBusyError, SessionFileError } from '../src/index.js';
import { makePool, SPAWN_MODES } from './helpers/pool.js';

async function refusal(promise: Promise<unknown>): Promise<string> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(SessionFileError);
  return (error as SessionFileError).code;
}

const MODES = SPAWN_MODES.flatMap((spawn) => [false, true].map((sandbox) => ({ spawn, sandbox })));

describe.each(MODES)('files in and out of a session (spawn $spawn, sandbox $sandbox)', ({ spawn, sandbox }) => {
  it('writes files the code can read, and reads files the code wrote, in the session folder', async () => {
    const pool = makePool({ spawn, sandbox, minIdle: 1, maxSessions: 1 });
    await using session = await pool.acquire();
    const csv = 'a,b\n1,2\n';
    await session.writeFile('data/in.csv', csv);
    const read = await session.execute('import csv\nrows = list(csv.reader(open("data/in.csv")))\nrows');
    expect(read.value).toBe("[['a', 'b'], ['1', '2']]");
    await session.execute('open("out.bin", "wb").write(bytes(range(256)))');
    expect(await session.readFile('out.bin')).toEqual(Buffer.from(Array.from({ length: 256 }, (_, i) => i)));
    // An absolute path inside the folder is the same file; the code moving elsewhere changes nothing.
    const folder = (await session.execute('import os\nos.getcwd()')).value!.slice(1, -1);
    await session.execute('os.chdir("/")');
    expect(String(await session.readFile(`${folder}/data/in.csv`))).toBe(csv);
  });

  it('refuses paths that leave the folder, symlinks planted by the code included', async () => {
    const pool = makePool({ spawn, sandbox, minIdle: 1, maxSessions: 1 });
    await using session = await pool.acquire();
    await session.execute('import os\nos.symlink("/etc", "etc")\nos.symlink("/etc/hostname", "host")\nos.mkfifo("pipe")');
    expect(await refusal(session.readFile('../outside'))).toBe('invalid_path');
    expect(await refusal(session.readFile('a/../../outside'))).toBe('invalid_path');
    expect(await refusal(session.readFile('/etc/hostname'))).toBe('invalid_path');
    expect(await refusal(session.readFile('etc/hostname'))).toBe('invalid_path');
    expect(await refusal(session.readFile('host'))).toBe('invalid_path');
    expect(await refusal(session.writeFile('host', 'x'))).toBe('invalid_path');
    expect(await refusal(session.writeFile('etc/evil', 'x'))).toBe('invalid_path');
    expect(await refusal(session.readFile('pipe'))).toBe('invalid_path');
    expect(await refusal(session.readFile('missing.txt'))).toBe('not_found');
    await session.writeFile('big', Buffer.alloc(1000));
    expect(await refusal(session.readFile('big', { maxBytes: 999 }))).toBe('too_large');
    // The session is fine afterwards.
    expect((await session.execute('1 + 1')).value).toBe('2');
  });

  it('refuses a file over the session disk limit', async () => {
    const pool = makePool({ spawn, sandbox, minIdle: 1, maxSessions: 1, limits: { diskBytes: 256 * 1024 } });
    await using session = await pool.acquire();
    expect(await refusal(session.writeFile('big', Buffer.alloc(512 * 1024)))).toBe('too_large');
    await session.writeFile('small', 'ok');
    expect(String(await session.readFile('small'))).toBe('ok');
  });

  it('is one thing at a time, like an execution', async () => {
    const pool = makePool({ spawn, sandbox, minIdle: 1, maxSessions: 1 });
    await using session = await pool.acquire();
    const running = session.execute('import time\ntime.sleep(0.3)');
    await expect(session.writeFile('x', 'y')).rejects.toBeInstanceOf(SessionBusyError);
    await running;
    await session.writeFile('x', 'y');
    expect(String(await session.readFile('x'))).toBe('y');
  });
});
