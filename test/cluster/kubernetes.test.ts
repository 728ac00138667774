import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { ROOT } from '../server/cli.js';
import { HAPROXY_CFG } from '../../bench/anchors/haproxy.js';

/** No cluster runs here: the manifests are parsed and held against the node and proxy they drive. */
type Doc = { kind: string; metadata: { name: string }; spec: any };

function manifests(file: string): Doc[] {
  return parseAllDocuments(readFileSync(join(ROOT, 'docs/deploy/kubernetes', file), 'utf8')).map((doc) => {
    expect(doc.errors).toEqual([]);
    return doc.toJS() as Doc;
  });
}

const nodes = manifests('pyrepl3.yaml');
const proxy = manifests('haproxy.yaml');
const byKind = (docs: Doc[], kind: string): Doc => docs.find((d) => d.kind === kind)!;

describe('the Kubernetes manifests (docs/deploy/kubernetes)', () => {
  const set = byKind(nodes, 'StatefulSet');
  const container = set.spec.template.spec.containers[0];
  const command: string = container.args[0];

  it('run three nodes with stable names behind a headless Service, n1..n3 from the ordinal', () => {
    expect(set.spec.replicas).toBe(3);
    const service = nodes.find((d) => d.kind === 'Service' && d.metadata.name === set.spec.serviceName)!;
    expect(service.spec.clusterIP).toBe('None');
    const nodeIdArg = /--node-id ("[^"]+")/.exec(command)![1]!;
    const ids = [0, 1, 2].map((n) =>
      execFileSync('sh', ['-c', `echo ${nodeIdArg}`], { env: { HOSTNAME: `pyrepl3-${n}` }, encoding: 'utf8' }).trim(),
    );
    expect(ids).toEqual(['n1', 'n2', 'n3']);
  });

  it('drain before stopping, probe /readyz and /healthz, and keep one node down at most', () => {
    expect(container.lifecycle.preStop.exec.command.join(' ')).toContain('kill -USR2 1');
    expect(container.readinessProbe.httpGet.path).toBe('/readyz');
    expect(container.livenessProbe.httpGet.path).toBe('/healthz');
    const drainMs = Number(/--drain-deadline-ms (\d+)/.exec(command)![1]);
    const graceMs = Number(/--grace-ms (\d+)/.exec(command)![1]);
    expect(set.spec.template.spec.terminationGracePeriodSeconds * 1000).toBeGreaterThan(drainMs + graceMs);
    const budget = byKind(nodes, 'PodDisruptionBudget');
    expect(budget.spec.maxUnavailable).toBe(1);
    expect(budget.spec.selector.matchLabels).toEqual(set.spec.selector.matchLabels);
  });

  it("give HAProxy every variable docs/deploy/haproxy.cfg reads, pointing at the nodes' stable names", () => {
    const env = Object.fromEntries(
      byKind(proxy, 'Deployment').spec.template.spec.containers[0].env.map((e: { name: string; value: string }) => [e.name, e.value]),
    );
    const config = readFileSync(HAPROXY_CFG, 'utf8').replace(/#.*$/gm, '');
    const wanted = [...config.matchAll(/\$\{(\w+)\}/g)].map((m) => m[1]!);
    expect(Object.keys(env).sort()).toEqual([...new Set(wanted)].sort());
    expect([env.PYREPL3_N1, env.PYREPL3_N2, env.PYREPL3_N3]).toEqual([
      'pyrepl3-0.pyrepl3:8000',
      'pyrepl3-1.pyrepl3:8000',
      'pyrepl3-2.pyrepl3:8000',
    ]);
    expect(env.PYREPL3_N1_AGENT).toBe(/--agent-port (\d+)/.exec(command)![1]);
  });
});
