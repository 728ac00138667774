/**
 * Walking machine definitions: the transitions of a machine as (source, event, guard, targets)
 * keys, which transition a spec machine takes on an event, and paths that take every transition.
 */
import { getNextSnapshot, type AnyStateMachine, type AnyStateNode, type EventObject, type Snapshot } from 'xstate';
import type { TestModel, TestPath } from 'xstate/graph';

export interface TransitionInfo {
  source: string;
  event: string;
  guard: string | null;
  targets: string;
  key: string;
}

function guardName(guard: unknown): string | null {
  if (guard === undefined || guard === null) return null;
  if (typeof guard === 'string') return guard;
  if (typeof guard === 'object' && 'type' in guard) return String((guard as { type: unknown }).type);
  return 'inline';
}

export function transitionKey(source: string, event: string, guard: string | null, targets: string): string {
  return `${source} | ${event}${guard === null ? '' : ` [${guard}]`} -> ${targets === '' ? '(self)' : targets}`;
}

interface RawTransition {
  eventType: string;
  guard?: unknown;
  target?: readonly AnyStateNode[];
  source: AnyStateNode;
}

export function describeTransition(t: RawTransition): TransitionInfo {
  const source = t.source.id;
  const event = t.eventType === '' ? 'always' : t.eventType;
  const guard = guardName(t.guard);
  const targets = (t.target ?? []).map((n) => n.id).join(',');
  return { source, event, guard, targets, key: transitionKey(source, event, guard, targets) };
}

export function stateNodes(machine: AnyStateMachine): AnyStateNode[] {
  const out: AnyStateNode[] = [];
  const walk = (node: AnyStateNode): void => {
    out.push(node);
    for (const child of Object.values(node.states)) walk(child);
  };
  walk(machine.root);
  return out;
}

/** Every transition of the machine, `after` delays and `always` included. */
export function transitionsOf(machine: AnyStateMachine): TransitionInfo[] {
  const out: TransitionInfo[] = [];
  for (const node of stateNodes(machine)) {
    for (const list of node.transitions.values()) for (const t of list) out.push(describeTransition(t as RawTransition));
    for (const t of node.always ?? []) out.push(describeTransition(t as RawTransition));
  }
  return out;
}

/** The transitions a spec machine takes on `event` from `before`, then (eventless) into `after`. */
export function takenTransitions(
  machine: AnyStateMachine,
  before: Snapshot<unknown>,
  event: EventObject,
  after: Snapshot<unknown>,
): string[] {
  const taken = (machine.getTransitionData(before as never, event) as RawTransition[]).map(describeTransition);
  const keys = taken.map((t) => t.key);
  const active = (snapshot: Snapshot<unknown>, id: string): boolean =>
    (snapshot as unknown as { matches(value: unknown): boolean }).matches(stateValueOf(id));
  const byId = new Map(stateNodes(machine).map((n) => [n.id, n]));
  // States that were active or were entered during this macrostep (targets and their initial children).
  const candidates = new Set<string>([...byId.keys()].filter((id) => id !== machine.root.id && active(before, id)));
  const enter = (id: string): void => {
    let node = byId.get(id);
    while (node !== undefined) {
      candidates.add(node.id);
      const initial = (node as { initial?: { target?: readonly AnyStateNode[] } }).initial?.target?.[0];
      node = initial;
    }
  };
  for (const t of taken) for (const target of t.targets.split(',')) if (target !== '') enter(target);
  // An eventless transition was taken when its source was active or entered, and is no longer active.
  const seen = new Set<string>();
  for (let changed = true; changed; ) {
    changed = false;
    for (const node of byId.values()) {
      if (!candidates.has(node.id) || active(after, node.id)) continue;
      for (const t of node.always ?? []) {
        const info = describeTransition(t as RawTransition);
        if (seen.has(info.key)) continue;
        seen.add(info.key);
        keys.push(info.key);
        for (const target of info.targets.split(',')) if (target !== '') enter(target);
        changed = true;
        break;
      }
    }
  }
  return keys;
}

/** 'session.ready.idle' -> { ready: 'idle' } */
export function stateValueOf(id: string): unknown {
  const path = id.split('.').slice(1);
  let value: unknown = path[path.length - 1];
  for (let i = path.length - 2; i >= 0; i--) value = { [path[i]!]: value };
  return value;
}

/**
 * One path per edge of the model's graph, each the shortest path to the edge's source plus the
 * edge, keeping for every spec transition key only the first `perTransition` of them: a covering
 * set of paths that stays small.
 */
/** A state's identity for path generation: its value and context (not how it was reached). */
export const serializeSnapshot = (snapshot: Snapshot<unknown>): string => {
  const { value, context } = snapshot as unknown as { value: unknown; context: unknown };
  return JSON.stringify({ value, context });
};

export function coveringPaths<TSnapshot extends Snapshot<unknown>, TEvent extends EventObject>(
  model: TestModel<TSnapshot, TEvent, unknown>,
  machine: AnyStateMachine,
  serialize: (snapshot: TSnapshot) => string,
  perTransition = 1,
  /** Events also tried in every state (or those a state allows): self-transitions do not appear in the adjacency map. */
  events: readonly TEvent[] | ((snapshot: TSnapshot) => readonly TEvent[]) = [],
): Array<{ events: TEvent[]; transitions: string[] }> {
  const shortest = model.getShortestPaths({ allowDuplicatePaths: true });
  const toState = new Map<string, TestPath<TSnapshot, TEvent>>();
  for (const path of shortest) toState.set(serialize(path.state), path);
  const adjacency = model.getAdjacencyMap();
  const chosen = new Map<string, number>();
  const out: Array<{ events: TEvent[]; transitions: string[] }> = [];
  const entries = Object.values(adjacency).map((v) => ({ v, prefix: toState.get(serialize(v.state)) }));
  entries.sort((a, b) => (a.prefix?.steps.length ?? 0) - (b.prefix?.steps.length ?? 0));
  for (const { v, prefix } of entries) {
    if (prefix === undefined || v.state.status !== 'active') continue;
    for (const { event, state } of Object.values(v.transitions) as Array<{ event: TEvent; state: TSnapshot }>) {
      const keys = takenTransitions(machine, v.state, event, state);
      if (keys.every((k) => (chosen.get(k) ?? 0) >= perTransition)) continue;
      for (const k of keys) chosen.set(k, (chosen.get(k) ?? 0) + 1);
      const events = [...prefix.steps.map((s) => s.event).filter((e) => e.type !== 'xstate.init'), event];
      out.push({ events, transitions: keys });
    }
    for (const event of typeof events === 'function' ? events(v.state) : events) {
      const next = getNextSnapshot(machine, v.state as never, event);
      if (serialize(next as unknown as TSnapshot) !== serialize(v.state)) continue;
      const keys = takenTransitions(machine, v.state, event, next);
      if (keys.every((k) => (chosen.get(k) ?? 0) >= perTransition)) continue;
      for (const k of keys) chosen.set(k, (chosen.get(k) ?? 0) + 1);
      out.push({ events: [...prefix.steps.map((s) => s.event).filter((e) => e.type !== 'xstate.init'), event], transitions: keys });
    }
  }
  return out;
}
