import type { AnyStateMachine, AnyStateNode } from 'xstate';
import type { PoolEmitted, PoolEvent } from '../../machines/pool.machine.js';
import type { SessionEmitted, SessionEvent, SessionReport } from '../../machines/session.machine.js';
import type { ProcessCommand, ProcessEvent } from '../../machines/session.types.js';

/**
 * Mermaid diagrams generated from the machines' definitions, so the documentation cannot drift
 * from the code: `npm run docs` writes them to docs/machines.md and test/docs.test.ts fails when
 * the committed file differs from what the machines produce now. Pure functions only.
 */

interface Transition {
  eventType: string;
  target: readonly AnyStateNode[] | undefined;
  guard?: unknown;
  actions: readonly unknown[];
}

interface Delayed extends Transition {
  delay: unknown;
}

const AFTER_PREFIX = 'xstate.after.';

/** A Mermaid id for a state node: its path, joined (state keys repeat across levels). */
function nodeId(node: AnyStateNode): string {
  return node.path.length === 0 ? 'root' : node.path.map((key) => key.replace(/[^A-Za-z0-9]/g, '_')).join('__');
}

/** The pseudo-state standing for "any state of `node`": the source of transitions declared on a parent. */
function anyId(node: AnyStateNode): string {
  return `${nodeId(node)}__any`;
}

/** Mermaid labels must not contain its own syntax characters. */
function text(value: string): string {
  return value.replace(/[:;#{}]/g, (c) => `#${c.charCodeAt(0)};`);
}

function nameOf(item: unknown): string | null {
  if (typeof item === 'string') return item;
  if (typeof item === 'function') {
    // Built-in actions (assign, sendTo, ...) written inline carry an `xstate.*` type: no useful name.
    const named = item as { type?: unknown; name?: string };
    if (typeof named.type === 'string') return named.type.startsWith('xstate.') ? null : named.type;
    return named.name && named.name !== 'anonymous' ? named.name : null;
  }
  if (typeof item === 'object' && item !== null && typeof (item as { type?: unknown }).type === 'string') {
    const type = (item as { type: string }).type;
    return type.startsWith('xstate.') ? null : type;
  }
  return null;
}

function guardLabel(guard: unknown): string | null {
  if (guard === undefined || guard === null) return null;
  return nameOf(guard) ?? 'guard';
}

function actionLabels(actions: readonly unknown[]): string[] {
  return actions.map(nameOf).filter((name): name is string => name !== null);
}

function delayLabel(delay: unknown): string {
  if (typeof delay === 'number') return `${delay} ms`;
  if (typeof delay === 'string') return delay;
  return 'delay';
}

/** `EVENT [guard] / action, action` */
function edgeLabel(trigger: string, t: Transition): string {
  const guard = guardLabel(t.guard);
  const actions = actionLabels(t.actions);
  let label = trigger;
  if (guard !== null) label += ` [${guard}]`;
  if (actions.length > 0) label += ` / ${actions.join(', ')}`;
  return text(label);
}

function isDescendant(node: AnyStateNode, ancestor: AnyStateNode): boolean {
  for (let n: AnyStateNode | undefined = node; n !== undefined; n = n.parent) if (n === ancestor) return true;
  return false;
}

function children(node: AnyStateNode): AnyStateNode[] {
  return Object.values(node.states as Record<string, AnyStateNode>);
}

/** Every transition a node declares, in definition order: events, then `always`, then `after`. */
function transitionsOf(node: AnyStateNode): { trigger: string; transition: Transition }[] {
  const found: { trigger: string; transition: Transition }[] = [];
  for (const [eventType, list] of node.transitions as Map<string, Transition[]>) {
    if (eventType.startsWith(AFTER_PREFIX)) continue;
    for (const transition of list) found.push({ trigger: eventType, transition });
  }
  for (const transition of (node.always ?? []) as Transition[]) found.push({ trigger: 'always', transition });
  for (const transition of node.after as Delayed[]) found.push({ trigger: `after ${delayLabel(transition.delay)}`, transition });
  return found;
}

/**
 * A Mermaid `stateDiagram-v2` of a machine, walked from `machine.root`: nested states become
 * composite states, edges carry the event name (`after <delay name>` for delayed transitions,
 * `always` for eventless ones), the guard in brackets and the named actions after a slash.
 * Transitions declared on a parent state start from its "any state" pseudo-state; transitions
 * without a target (actions only) are drawn as self-loops.
 */
export function machineToMermaid(machine: AnyStateMachine): string {
  const lines: string[] = ['stateDiagram-v2'];
  const declared = new Set<AnyStateNode>();
  const edges: string[] = [];

  const declare = (node: AnyStateNode, indent: string): void => {
    const id = nodeId(node);
    const kids = children(node);
    const needsAny = transitionsOf(node).some(({ transition }) => {
      const target = transition.target?.[0];
      return target === undefined || isDescendant(target, node);
    });
    if (kids.length === 0) {
      lines.push(`${indent}state "${node.key}" as ${id}`);
      declared.add(node);
      return;
    }
    lines.push(`${indent}state "${node.key}" as ${id} {`);
    declared.add(node);
    writeInside(node, `${indent}  `, needsAny);
    lines.push(`${indent}}`);
  };

  const writeInside = (node: AnyStateNode, indent: string, needsAny: boolean): void => {
    if (needsAny) lines.push(`${indent}state "any state" as ${anyId(node)}`);
    for (const child of children(node)) declare(child, indent);
    const initial = node.initial?.target?.[0] as AnyStateNode | undefined;
    if (initial !== undefined) lines.push(`${indent}[*] --> ${nodeId(initial)}`);
    for (const child of children(node)) if (child.type === 'final') lines.push(`${indent}${nodeId(child)} --> [*]`);
  };

  const collect = (node: AnyStateNode): void => {
    for (const { trigger, transition } of transitionsOf(node)) {
      const isParent = children(node).length > 0;
      const targets = transition.target && transition.target.length > 0 ? transition.target : undefined;
      const inward = targets?.some((t) => isDescendant(t, node)) ?? false;
      const source = isParent && (targets === undefined || inward || node.parent === undefined) ? anyId(node) : nodeId(node);
      for (const target of targets ?? [undefined]) {
        edges.push(`  ${source} --> ${target === undefined ? source : nodeId(target)} : ${edgeLabel(trigger, transition)}`);
      }
    }
    for (const child of children(node)) collect(child);
  };

  const root = machine.root as AnyStateNode;
  const rootNeedsAny = transitionsOf(root).length > 0;
  writeInside(root, '  ', rootNeedsAny);
  collect(root);
  lines.push(...edges);
  return lines.join('\n');
}

/** Names of what a machine invokes (state path → actor source), for the text under its diagram. */
export function invokedActors(machine: AnyStateMachine): { state: string; id: string; src: string }[] {
  const found: { state: string; id: string; src: string }[] = [];
  const walk = (node: AnyStateNode): void => {
    for (const invoke of node.invoke as { id: string; src: unknown }[]) {
      found.push({
        state: node.path.length === 0 ? '(machine)' : node.path.join('.'),
        id: invoke.id,
        src: typeof invoke.src === 'string' ? invoke.src : invoke.id,
      });
    }
    for (const child of children(node)) walk(child);
  };
  walk(machine.root as AnyStateNode);
  return found;
}

// The sequence diagram names real event types: renaming one in the machines breaks this file's build.
const poolEvent = <T extends PoolEvent['type']>(type: T): T => type;
const poolEmitted = <T extends PoolEmitted['type']>(type: T): T => type;
const sessionEvent = <T extends SessionEvent['type']>(type: T): T => type;
const sessionEmitted = <T extends SessionEmitted['type']>(type: T): T => type;
const sessionReport = <T extends SessionReport['type']>(type: T): T => type;
const processCommand = <T extends ProcessCommand['type']>(type: T): T => type;
const processEvent = <T extends ProcessEvent['type']>(type: T): T => type;

/**
 * The sequence of an acquire that finds no idle session and waits for a spawn, then one
 * execution and the release. Every arrow between actors is an event; nobody awaits anybody.
 */
export function acquireSequenceMermaid(): string {
  return [
    'sequenceDiagram',
    '  autonumber',
    '  participant C as caller',
    '  participant B as SessionPool (src/pool.ts)',
    '  participant P as pool supervisor (pool.machine)',
    '  participant S as session actor (session.machine)',
    '  participant X as process actor (src/process)',
    '  participant W as Python worker (pyrepl3_worker)',
    '  C->>B: acquire({ timeoutMs })',
    `  B->>P: ${poolEvent('ACQUIRE')} { waiterId, timeoutMs }`,
    '  Note over P: no idle session: the waiter is queued (FIFO),<br/>a slot is reserved and the child spawned in the same transition,<br/>WAITER_EXPIRED is scheduled at the deadline',
    '  P->>S: spawnChild(session, { id, spawn })',
    `  P-->>B: emit ${poolEmitted('sessionSpawned')}`,
    '  S->>X: invoke process',
    '  X->>W: exec python -c import pyrepl3_worker (fork: the spare of the template gets its config)',
    '  W-->>X: {"op":"ready","pid"} on fd 3',
    `  X-->>S: ${processEvent('process.ready')} { pid, warmed }`,
    '  opt warmupCode and not warmed',
    `    S->>X: ${processCommand('process.execute')} { silent: true }`,
    '    X->>W: {"op":"exec"}',
    '    W-->>X: {"op":"result"}',
    `    X-->>S: ${processEvent('process.result')}`,
    '  end',
    `  S-->>P: ${sessionReport('session.ready')} { sessionId, pid }`,
    '  Note over P: settle(): the oldest waiter gets the idle session,<br/>its deadline timer is cancelled',
    `  P-->>B: emit ${poolEmitted('sessionReady')}, ${poolEmitted('granted')} { waiterId, sessionId }`,
    '  B-->>C: resolve(Session)',
    '  C->>B: session.execute(code)',
    `  B->>S: ${sessionEvent('EXECUTE')} { requestId, code, timeoutMs }`,
    `  S->>X: ${processCommand('process.execute')}`,
    '  X->>W: {"op":"exec","id","code"}',
    '  W-->>X: {"op":"output"} (as it happens)',
    `  X-->>S: ${processEvent('process.output')}`,
    `  S-->>B: emit ${sessionEmitted('output')}`,
    '  B-->>C: onOutput(chunk)',
    '  W-->>X: {"op":"result"}',
    `  X-->>S: ${processEvent('process.result')}`,
    `  S-->>B: emit ${sessionEmitted('executed')}`,
    '  B-->>C: resolve(ExecutionResult)',
    '  C->>B: session.release()',
    `  B->>P: ${poolEvent('RELEASE')} { sessionId }`,
    `  P-->>B: emit ${poolEmitted('released')} { kept }`,
  ].join('\n');
}

export interface DiagramMachines {
  session: AnyStateMachine;
  pool: AnyStateMachine;
  template: AnyStateMachine;
  kernel: AnyStateMachine;
}

const fence = (body: string): string => `\`\`\`mermaid\n${body}\n\`\`\``;

function invokedLine(machine: AnyStateMachine): string {
  const invoked = invokedActors(machine);
  if (invoked.length === 0) return '';
  return `Invokes: ${invoked.map((i) => `\`${i.id}\` (in ${i.state === '(machine)' ? 'every state' : `\`${i.state}\``})`).join(', ')}.\n\n`;
}

/** The whole of docs/machines.md. */
export function machinesMarkdown(machines: DiagramMachines): string {
  const section = (title: string, file: string, machine: AnyStateMachine, about: string): string =>
    `## ${title} (\`machines/${file}\`)\n\n${about}\n\n${invokedLine(machine)}${fence(machineToMermaid(machine))}\n`;
  return [
    '# State machines',
    '',
    '<!-- Generated by `npm run docs` from the machine definitions (src/docs/mermaid.ts). Do not edit by hand: test/docs.test.ts fails when this file differs from what the machines produce. -->',
    '',
    'Edges read `EVENT [guard] / actions`. `after <delay>` is a delayed transition (the delay is named in the machine\'s `delays`), `always` an eventless one. A transition declared on a parent state starts from its "any state" node; one without a target (actions only) is a self-loop. See [architecture.md](architecture.md) for who sends what.',
    '',
    section(
      'Session',
      'session.machine.ts',
      machines.session,
      'One Python session, from spawn to death. The `process` actor owns the OS process and reports by `process.*` events.',
    ),
    section(
      'Pool supervisor',
      'pool.machine.ts',
      machines.pool,
      'Owns capacity and the FIFO waiter queue. Every transition is synchronous; sessions are child actors, grants are emitted events.',
    ),
    section(
      'Fork template',
      'template.machine.ts',
      machines.template,
      "In spawn mode 'fork', the warmed process that sessions are forked from; restarts with backoff.",
    ),
    section(
      'Jupyter kernel queue',
      'kernel.machine.ts',
      machines.kernel,
      'The shell requests of one Jupyter kernel (src/server/jupyter), from all its sockets: one at a time, in order. The `handle` actor runs a request in the session; when the session goes, every unanswered request is emitted as `abandoned` and answered with an error at once.',
    ),
    '## An acquire that waits for a spawn',
    '',
    'Solid arrows are commands (events sent down); dashed arrows are reports (events sent back or emitted). No participant awaits another.',
    '',
    fence(acquireSequenceMermaid()),
    '',
  ].join('\n');
}
