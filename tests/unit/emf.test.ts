/**
 * EmfMetrics on its own: each document checked against CloudWatch's "Specification: Embedded
 * metric format" (an `_aws` object with a Timestamp in milliseconds and CloudWatchMetrics
 * directives; each directive's dimension names and metric names the names of root members), and
 * the directive of each document the one of its own names, units and dimensions, whatever the
 * documents before it were.
 */
import { describe, expect, it } from '@jest/globals';
import { EmfMetrics, MetricUnit } from '../../src/observability/emf.js';

type Doc = Record<string, unknown>;
interface Directive {
  Namespace: string;
  Dimensions: string[][];
  Metrics: { Name: string; Unit: string }[];
}

const NAMESPACE = 'ImageRewriter';
const SERVICE = 'image-rewriter';

function emf(): { metrics: EmfMetrics; lines: string[]; docs: () => Doc[] } {
  const lines: string[] = [];
  const metrics = new EmfMetrics({ namespace: NAMESPACE, serviceName: SERVICE, sink: (l) => lines.push(l) });
  return { metrics, lines, docs: () => lines.map((l) => JSON.parse(l) as Doc) };
}

/** The violations of the EMF specification in `doc` (an empty list for a valid document). */
function specViolations(doc: Doc): string[] {
  const out: string[] = [];
  const aws = doc['_aws'] as { Timestamp?: unknown; CloudWatchMetrics?: unknown } | undefined;
  if (typeof aws !== 'object') return ['no _aws object'];
  if (typeof aws.Timestamp !== 'number' || !Number.isInteger(aws.Timestamp)) out.push('Timestamp is no integer');
  if (!Array.isArray(aws.CloudWatchMetrics)) return [...out, 'CloudWatchMetrics is no array'];
  for (const d of aws.CloudWatchMetrics as Directive[]) {
    if (typeof d.Namespace !== 'string' || d.Namespace === '') out.push('no Namespace');
    if (!Array.isArray(d.Dimensions)) out.push('Dimensions is no array');
    for (const set of d.Dimensions) {
      if (set.length > 30) out.push('a dimension set of more than 30');
      if (new Set(set).size !== set.length) out.push(`a dimension named twice in ${JSON.stringify(set)}`);
      for (const name of set) if (typeof doc[name] !== 'string') out.push(`dimension ${name} is no string member`);
    }
    if (d.Metrics.length > 100) out.push('more than 100 metrics');
    for (const m of d.Metrics) {
      if (typeof doc[m.Name] !== 'number') out.push(`metric ${m.Name} is no number member`);
      if (!['Count', 'Milliseconds'].includes(m.Unit)) out.push(`unit ${m.Unit}`);
    }
  }
  return out;
}

const directives = (doc: Doc | undefined): Directive[] => (doc?.['_aws'] as { CloudWatchMetrics: Directive[] }).CloudWatchMetrics;

describe('EmfMetrics', () => {
  it('stamps a document with the time it was written, in milliseconds since the epoch', () => {
    const { metrics, docs } = emf();
    metrics.addMetric('Reviews', MetricUnit.Count, 1);
    const before = Date.now();
    metrics.publishStoredMetrics();
    const after = Date.now();
    const [doc] = docs();
    expect(specViolations(doc ?? {})).toEqual([]);
    const { Timestamp } = doc?.['_aws'] as { Timestamp: number };
    expect(Timestamp).toBeGreaterThanOrEqual(before);
    expect(Timestamp).toBeLessThanOrEqual(after);
  });

  it('gives each document the directive of its own dimensions, metrics and units, whatever came before', () => {
    const { metrics, docs } = emf();
    const flushes: { dimensions: [string, string][]; metrics: [string, MetricUnit, boolean][] }[] = [
      // Two dimensions, then one of them, then another of as many.
      { dimensions: [['Outcome', 'patched'], ['Rule', 'gcr']], metrics: [['Reviews', 'Count', false]] },
      { dimensions: [['Outcome', 'patched']], metrics: [['Reviews', 'Count', false]] },
      { dimensions: [['Rule', 'gcr']], metrics: [['Reviews', 'Count', false]] },
      // Two metrics, then the first of them alone.
      { dimensions: [['Rule', 'gcr']], metrics: [['Rewrites', 'Count', false], ['Reviews', 'Count', false]] },
      { dimensions: [['Rule', 'gcr']], metrics: [['Rewrites', 'Count', false]] },
      // Another metric of the same unit as one before, as many metrics.
      { dimensions: [['Outcome', 'patched']], metrics: [['Rewrites', 'Count', false]] },
      // The same name in another unit.
      { dimensions: [['Outcome', 'patched']], metrics: [['Reviews', 'Milliseconds', false]] },
      // A service metric beside another without dimensions: one directive.
      { dimensions: [], metrics: [['Reviews', 'Count', false], ['RulesStale', 'Count', true]] },
      { dimensions: [['Outcome', 'patched']], metrics: [['Reviews', 'Count', false], ['RulesStale', 'Count', true]] },
    ];
    for (const f of flushes) {
      for (const [name, value] of f.dimensions) metrics.addDimension(name, value);
      for (const [name, unit, serviceOnly] of f.metrics) {
        if (serviceOnly) metrics.addServiceMetric(name, unit, 1);
        else metrics.addMetric(name, unit, 1);
      }
      metrics.publishStoredMetrics();
    }
    const written = docs();
    expect(written.map(specViolations)).toEqual(flushes.map(() => []));
    expect(written.map(directives)).toEqual(
      flushes.map((f) => {
        const dimensioned = f.dimensions.length > 0;
        const definition = ([Name, Unit]: [string, MetricUnit, boolean]): { Name: string; Unit: string } => ({ Name, Unit });
        const all = [{ Namespace: NAMESPACE, Dimensions: [['service', ...f.dimensions.map(([n]) => n)]], Metrics: f.metrics.filter((m) => !dimensioned || !m[2]).map(definition) }];
        const serviceOnly = f.metrics.filter((m) => dimensioned && m[2]);
        return serviceOnly.length === 0 ? all : [...all, { Namespace: NAMESPACE, Dimensions: [['service']], Metrics: serviceOnly.map(definition) }];
      }),
    );
  });

  it('writes a metric added again in another unit with the unit given last, its values summed', () => {
    const { metrics, docs } = emf();
    metrics.addMetric('Latency', MetricUnit.Count, 1);
    metrics.addMetric('Latency', MetricUnit.Milliseconds, 2);
    metrics.publishStoredMetrics();
    const [doc] = docs();
    expect(doc).toMatchObject({ Latency: 3 });
    expect(directives(doc)).toEqual([{ Namespace: NAMESPACE, Dimensions: [['service']], Metrics: [{ Name: 'Latency', Unit: 'Milliseconds' }] }]);
  });

  it('writes the service dimension once, with the service name, when a caller adds one named service', () => {
    const { metrics, lines, docs } = emf();
    metrics.addDimension('service', 'other');
    metrics.addDimension('Outcome', 'patched');
    metrics.addMetric('Reviews', MetricUnit.Count, 1);
    metrics.publishStoredMetrics();
    const [doc] = docs();
    expect(lines[0]).toBe(JSON.stringify(doc));
    expect(specViolations(doc ?? {})).toEqual([]);
    expect(doc).toMatchObject({ service: SERVICE, Outcome: 'patched', Reviews: 1 });
    expect(directives(doc)[0]?.Dimensions).toEqual([['service', 'Outcome']]);
  });

  it('stays a JSON line whatever number a metric is given', () => {
    const { metrics, lines } = emf();
    metrics.addMetric('A', MetricUnit.Count, Number.NaN);
    metrics.addMetric('B', MetricUnit.Milliseconds, Number.POSITIVE_INFINITY);
    metrics.addMetric('C', MetricUnit.Count, -0);
    metrics.addMetric('D', MetricUnit.Count, 1e21);
    metrics.publishStoredMetrics();
    expect(lines).toHaveLength(1);
    expect(() => JSON.parse(lines[0] ?? '') as unknown).not.toThrow();
    expect(JSON.parse(lines[0] ?? '{}')).toMatchObject({ C: 0, D: 1e21 });
  });
});
