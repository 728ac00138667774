/**
 * How much of a specification a set of generated paths reaches, found by running the paths on the
 * specification alone. Each coverage test computes it itself, so it holds when run on its own, in
 * any order, whatever the replay tests did.
 */
import { createActor, type AnyStateMachine, type EventObject } from 'xstate';
import { expect } from 'vitest';
import { stateNodes, takenTransitions, transitionsOf, stateValueOf } from './graph.js';

export interface SpecRun {
  input?: unknown;
  events: readonly EventObject[];
}

function reachedBy(spec: AnyStateMachine, runs: readonly SpecRun[]): { states: Set<string>; transitions: Set<string> } {
  const states = new Set<string>();
  const transitions = new Set<string>();
  const nodes = stateNodes(spec).filter((n) => n !== spec.root);
  const note = (snapshot: { matches(value: never): boolean }): void => {
    for (const node of nodes) if (snapshot.matches(stateValueOf(node.id) as never)) states.add(node.id);
  };
  for (const run of runs) {
    const actor = createActor(spec, run.input === undefined ? {} : { input: run.input }).start();
    note(actor.getSnapshot());
    for (const event of run.events) {
      const before = actor.getSnapshot();
      actor.send(event);
      for (const key of takenTransitions(spec, before, event, actor.getSnapshot())) transitions.add(key);
      note(actor.getSnapshot());
    }
  }
  return { states, transitions };
}

/** Every state and transition of the specification is reached by some run; prints the figures. */
export function expectFullCoverage(name: string, spec: AnyStateMachine, runs: readonly SpecRun[]): void {
  const { states, transitions } = reachedBy(spec, runs);
  const allStates = stateNodes(spec)
    .filter((n) => n !== spec.root)
    .map((n) => n.id);
  const allTransitions = [...new Set(transitionsOf(spec).map((t) => t.key))];
  const missingStates = allStates.filter((id) => !states.has(id));
  const missing = allTransitions.filter((key) => !transitions.has(key));
  console.info(
    `${name} model: ${runs.length} paths; states ${allStates.length - missingStates.length}/${allStates.length}; ` +
      `transitions ${allTransitions.length - missing.length}/${allTransitions.length}`,
  );
  expect(missingStates, 'states no path reaches').toEqual([]);
  expect(missing, 'spec transitions no path takes').toEqual([]);
}
