/**
 * The structural conformance check every model runs: the real machine and its specification have
 * the same states, every real transition is mapped to spec transitions that exist, and every spec
 * transition is the image of a real one. A machine that gains behaviour its spec lacks fails here.
 */
import type { AnyStateMachine } from 'xstate';
import { expect } from 'vitest';
import { stateNodes, transitionsOf, type TransitionInfo } from './graph.js';

export interface Conformance {
  name: string;
  real: AnyStateMachine;
  spec: AnyStateMachine;
  /** Real transition key -> the spec transition(s) it stands for. */
  mapping: Record<string, string | string[]>;
  /** How a transition is keyed (default: with its guard). */
  keyOf?: (t: TransitionInfo) => string;
  /** Real transitions deliberately not modelled, with why; the list must not go stale. */
  notModelled?: Record<string, string>;
  /** Spec transitions with no real counterpart, with why; the list must not go stale. */
  specOnly?: Record<string, string>;
}

export function expectConformance({ name, real, spec, mapping, keyOf = (t) => t.key, notModelled = {}, specOnly = {} }: Conformance): void {
  expect(
    stateNodes(real)
      .map((n) => n.id)
      .sort(),
    'states of the real machine vs the spec',
  ).toEqual(
    stateNodes(spec)
      .map((n) => n.id)
      .sort(),
  );
  const realKeys = [...new Set(transitionsOf(real).map(keyOf))];
  const specKeys = new Set(transitionsOf(spec).map(keyOf));
  const mapped = (key: string): string[] => [mapping[key] ?? []].flat();
  expect(
    Object.keys(notModelled).filter((key) => !realKeys.includes(key)),
    'listed as not modelled, but gone from the machine',
  ).toEqual([]);
  const unmapped = realKeys.filter((key) => mapping[key] === undefined && notModelled[key] === undefined);
  expect(unmapped, `real transitions the spec lacks (add them to ${name}.spec.ts and its mapping)`).toEqual([]);
  expect(
    Object.values(mapping)
      .flat()
      .filter((key) => !specKeys.has(key)),
    'mapped spec transitions that do not exist',
  ).toEqual([]);
  expect(
    Object.keys(mapping).filter((key) => !realKeys.includes(key)),
    'mapped real transitions that no longer exist',
  ).toEqual([]);
  const image = new Set(realKeys.flatMap(mapped));
  expect(
    [...specKeys].filter((key) => !image.has(key) && specOnly[key] === undefined),
    'spec transitions the real machine lacks',
  ).toEqual([]);
  expect(
    Object.keys(specOnly).filter((key) => !specKeys.has(key) || image.has(key)),
    'listed as spec-only, but gone from the spec or mapped',
  ).toEqual([]);
}
