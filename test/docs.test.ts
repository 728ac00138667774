import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { poolMachine } from '../machines/pool.machine.js';
import { sessionMachine } from '../machines/session.machine.js';
import { templateMachine } from '../machines/template.machine.js';
import { generatedDocs } from '../src/docs/generate.js';
import { acquireSequenceMermaid, machineToMermaid } from '../src/docs/mermaid.js';

const root = resolve(import.meta.dirname, '..');

describe('generated docs', () => {
  for (const [path, expected] of Object.entries(generatedDocs())) {
    it(`${path} matches the machines (run \`npm run docs\` after changing a machine)`, () => {
      let committed: string | null = null;
      try {
        committed = readFileSync(resolve(root, path), 'utf8');
      } catch {
        // Missing: reported below.
      }
      if (committed !== expected) {
        expect.fail(
          `${path} differs from what the machines produce now: run \`npm run docs\` and commit ${path}` +
            (committed === null ? ' (the file is missing)' : ''),
        );
      }
    });
  }
});

describe('machineToMermaid', () => {
  it('draws every state and every event of the session machine', () => {
    const diagram = machineToMermaid(sessionMachine);
    expect(diagram.startsWith('stateDiagram-v2\n')).toBe(true);
    for (const state of [
      'spawning',
      'warming',
      'ready__idle',
      'ready__checking',
      'busy__running',
      'busy__interrupting',
      'busy__killing',
      'stopping',
      'dead',
    ]) {
      expect(diagram).toContain(`as ${state}`);
    }
    expect(diagram).toContain('[*] --> spawning');
    expect(diagram).toContain('dead --> [*]');
    expect(diagram).toContain('spawning --> warming : process.ready [needsWarmup] / recordPid');
    expect(diagram).toContain('spawning --> stopping : after startTimeout');
    expect(diagram).toContain('root__any --> dead : process.exited');
    expect(diagram).toContain('busy__interrupting --> busy__killing : after interruptGrace');
  });

  it('labels eventless transitions with their guards and draws actions-only transitions as self-loops', () => {
    const diagram = machineToMermaid(poolMachine);
    expect(diagram).toContain('closing__stoppingSessions --> closing__stoppingTemplate : always [allSessionsGone]');
    expect(diagram).toContain('open --> open : ACQUIRE / acquire');
    expect(diagram).toContain('open --> closing : SHUTDOWN');
  });

  it('draws transitions of a parent state from the parent when they leave it', () => {
    const diagram = machineToMermaid(templateMachine);
    expect(diagram).toContain('running --> dead : template.exited');
    expect(diagram).toContain('running__any --> running__stopping : STOP');
    expect(diagram).toContain('dead --> running : after restartDelay');
  });

  it('never puts Mermaid syntax characters into a label', () => {
    for (const machine of [sessionMachine, poolMachine, templateMachine]) {
      for (const line of machineToMermaid(machine).split('\n')) {
        const label = line.split(' : ')[1];
        if (label !== undefined) expect(label).not.toMatch(/[:;{}]/);
      }
    }
  });

  it('the sequence diagram goes from the caller to the Python worker and back', () => {
    const diagram = acquireSequenceMermaid();
    expect(diagram).toMatch(/^sequenceDiagram\n/);
    for (const participant of ['caller', 'SessionPool', 'pool supervisor', 'session actor', 'process actor', 'Python worker']) {
      expect(diagram).toContain(participant);
    }
    expect(diagram).toContain('B->>P: ACQUIRE');
    expect(diagram).toContain('S-->>P: session.ready');
    expect(diagram).toContain('granted');
  });
});
