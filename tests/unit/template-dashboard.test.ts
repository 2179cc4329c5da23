/**
 * template.yaml's CloudWatch dashboard shows the counts the function writes: the EMF documents of
 * real handler answers (a review that rewrote one image and found another invalid, a fail-open
 * one, a wrong token) are read for their (metric, Outcome) pairs, and each pair of a plotted metric must be on
 * the dashboard, by a metric line with that Outcome or by a SEARCH over every Outcome. Every Outcome
 * (the dry runs' `dryrun` too) is on "Reviews by outcome". ConfigErrorAlarm reads RulesStale, which
 * a stale function writes at every invocation, with Lambda's Invocations as the healthy signal.
 */
import { describe, expect, it } from '@jest/globals';
import { parseRules } from '../../src/config/load.js';
import { fixedRules, type RulesProvider } from '../../src/config/sources.js';
import { createHandler } from '../../src/lambda/handler.js';
import { EXAMPLE_RULES } from '../../src/cli/invoke.js';
import { captureObservability, EVENT_TOKEN, eventReview, loadEvent, withBody } from '../helpers/events.js';
import { OUTCOMES } from '../../src/observability/telemetry.js';
import { loadTemplate } from '../helpers/template.js';

/** The Outcome of a series written without one (a failed cold start's EMF document). */
const NO_OUTCOME = '(none)';

interface Widget {
  readonly properties: { readonly title: string; readonly metrics: unknown[][] };
}

/** The dashboard body, with the template's substitutions filled in. */
function dashboard(): Widget[] {
  const sub = loadTemplate().Resources['Dashboard']?.Properties['DashboardBody'] as { 'Fn::Sub': [string, unknown] };
  const body = sub['Fn::Sub'][0].replace(/\$\{[^}]+\}/g, 'x');
  return (JSON.parse(body) as { widgets: Widget[] }).widgets;
}

/** Whether the dashboard plots `metric` of namespace ImageRewriter for `outcome` (NO_OUTCOME: the series without one). */
function shown(widgets: readonly Widget[], metric: string, outcome: string): boolean {
  const schema = outcome === NO_OUTCOME ? '{ImageRewriter,service}' : '{ImageRewriter,Outcome,service}';
  for (const w of widgets) {
    let previous: unknown[] = [];
    for (const line of w.properties.metrics) {
      const first = line[0];
      if (typeof first === 'object' && first !== null && 'expression' in first) {
        const expression = String(first.expression);
        if (new RegExp(`SEARCH\\('${schema.replace(/[{}]/g, '\\$&')} [^']*MetricName="${metric}"`).test(expression)) return true;
        continue;
      }
      if (outcome === NO_OUTCOME) continue;
      // ["...", v]: the previous line with its last dimension value replaced; "." repeats a field.
      const full = first === '...' ? [...previous.slice(0, previous.length - (line.length - 1)), ...line.slice(1)] : line.map((v, i) => (v === '.' ? previous[i] : v));
      previous = full;
      const text = full.filter((v) => typeof v === 'string');
      if (text[0] === 'ImageRewriter' && text[1] === metric && text.includes('Outcome') && text[text.indexOf('Outcome') + 1] === outcome) return true;
    }
  }
  return false;
}

/** (metric, Outcome) of every count in the EMF documents of one answer. */
async function emitted(rules: RulesProvider, body: unknown, event = 'rest-pod-v1.json'): Promise<[string, string][]> {
  const obs = captureObservability();
  const handler = createHandler({ rules, token: EVENT_TOKEN, logger: obs.logger, metrics: obs.metrics });
  await handler(withBody(loadEvent(event), body));
  return obs.emf().flatMap((doc) => {
    const outcome = String(doc['Outcome']);
    const aws = doc['_aws'] as { CloudWatchMetrics: { Metrics: { Name: string }[] }[] };
    return aws.CloudWatchMetrics.flatMap((m) => m.Metrics.map((x): [string, string] => [x.Name, outcome]));
  });
}

describe('template.yaml dashboard', () => {
  it('plots Rewrites, InvalidImages and AuthFailures whatever the Outcome they come with', async () => {
    const review = eventReview(loadEvent('rest-pod-v1.json')) as { request: { object: { spec: { containers: { image: string }[] } } } };
    const [first] = review.request.object.spec.containers;
    if (first === undefined) throw new Error('no container');
    first.image = 'gcr.io/NOT-VALID:x';
    const example = parseRules(EXAMPLE_RULES, {});
    if (!example.ok) throw new Error('example rules');
    const pairs = [
      ...(await emitted(fixedRules(example.rewriter, 'example'), review)),
      ...(await emitted({ current: () => Promise.resolve({ ok: false, reason: 'not read' }) }, review)),
      ...(await emitted(fixedRules(example.rewriter, 'example'), review, 'rest-wrong-token.json')),
    ];
    // A dry run (kubectl diff, GitOps drift checks): Reviews by Outcome dryrun, its invalid images too.
    const dryRun = structuredClone(review);
    (dryRun.request as { dryRun?: boolean }).dryRun = true;
    pairs.push(...(await emitted(fixedRules(example.rewriter, 'example'), dryRun)));
    const plotted = pairs.filter(([metric]) => ['Rewrites', 'InvalidImages', 'AuthFailures'].includes(metric));
    expect(plotted).toEqual(expect.arrayContaining([['Rewrites', 'patched'], ['InvalidImages', 'patched'], ['AuthFailures', 'unauthorized'], ['InvalidImages', 'dryrun']]));
    expect(plotted).not.toContainEqual(['Rewrites', 'dryrun']);
    const widgets = dashboard();
    expect(plotted.filter(([metric, outcome]) => !shown(widgets, metric, outcome))).toEqual([]);
    expect(pairs).toContainEqual(['Reviews', 'dryrun']);
  });

  it('plots Reviews for every Outcome the function writes, dryrun included', () => {
    const widgets = dashboard();
    expect(OUTCOMES.filter((outcome) => !shown(widgets, 'Reviews', outcome))).toEqual([]);
  });
});

interface AlarmQuery {
  readonly Id: string;
  readonly Expression?: string;
  readonly ReturnData?: boolean;
  readonly MetricStat?: { readonly Metric: { readonly Namespace: string; readonly MetricName: string; readonly Dimensions: { readonly Name: string; readonly Value: unknown }[] } };
}

const configAlarm = (): { Properties: Record<string, unknown>; queries: AlarmQuery[] } => {
  const alarm = loadTemplate().Resources['ConfigErrorAlarm'];
  if (alarm === undefined) throw new Error('no ConfigErrorAlarm');
  return { Properties: alarm.Properties, queries: alarm.Properties['Metrics'] as unknown as AlarmQuery[] };
};

describe('template.yaml dashboard and ConfigErrorAlarm', () => {
  it('plots every ImageRewriter series the alarm reads (none has an Outcome), and ConfigRefreshes for every Outcome', () => {
    const stats = configAlarm().queries.flatMap((q) => (q.MetricStat?.Metric.Namespace === 'ImageRewriter' ? [q.MetricStat.Metric] : []));
    expect(stats.map((m) => m.MetricName).sort()).toEqual(['ConfigErrors', 'RulesStale']);
    expect(stats.every((m) => m.Dimensions.every((d) => d.Name === 'service'))).toBe(true);
    const widgets = dashboard();
    expect(stats.filter((m) => !shown(widgets, m.MetricName, NO_OUTCOME))).toEqual([]);
    expect(OUTCOMES.filter((outcome) => !shown(widgets, 'ConfigErrors', outcome))).toEqual([]);
    expect([...OUTCOMES, NO_OUTCOME].filter((outcome) => !shown(widgets, 'ConfigRefreshes', outcome))).toEqual([]);
  });
});

describe('template.yaml ConfigErrorAlarm', () => {
  it('reads the RulesStale series a stale function writes at every invocation, whatever its Outcome', async () => {
    const stale: RulesProvider = { current: () => Promise.resolve({ ok: false, reason: 'invalid' }), stale: () => true };
    const obs = captureObservability();
    const handler = createHandler({ rules: stale, token: EVENT_TOKEN, logger: obs.logger, metrics: obs.metrics });
    await handler(loadEvent('rest-pod-v1.json'));
    await handler(loadEvent('rest-wrong-token.json'));
    const series = obs.emf().map((doc) => {
      const aws = doc['_aws'] as { CloudWatchMetrics: { Dimensions: string[][]; Metrics: { Name: string }[] }[] };
      return aws.CloudWatchMetrics.filter((d) => d.Metrics.some((m) => m.Name === 'RulesStale')).map((d) => d.Dimensions);
    });
    expect(series).toEqual([[[['service']]], [[['service']]]]);
    const stat = configAlarm().queries.find((q) => q.MetricStat?.Metric.MetricName === 'RulesStale')?.MetricStat?.Metric;
    expect(stat).toEqual({ Namespace: 'ImageRewriter', MetricName: 'RulesStale', Dimensions: [{ Name: 'service', Value: 'image-rewriter' }] });
  });

  it('stays in alarm through quiet periods, turns OK on traffic without RulesStale, within the 10 metrics an alarm may read', () => {
    const { Properties, queries } = configAlarm();
    // A period without invocations is missing: the state stays (the function cannot have loaded a fix).
    expect(Properties['TreatMissingData']).toBe('ignore');
    expect(Properties).toMatchObject({ ComparisonOperator: 'GreaterThanOrEqualToThreshold', Threshold: 1, EvaluationPeriods: 2, DatapointsToAlarm: 1 });
    const returned = queries.filter((q) => q.ReturnData !== false);
    expect(returned.map((q) => q.Expression)).toEqual(['SUM([stale, init, traffic])']);
    // Traffic: Lambda's own Invocations (no EMF cost in the healthy state), as 0.
    expect(queries.find((q) => q.Id === 'traffic')?.Expression).toBe('invocations * 0');
    expect(queries.find((q) => q.Id === 'invocations')?.MetricStat?.Metric).toEqual({ Namespace: 'AWS/Lambda', MetricName: 'Invocations', Dimensions: [{ Name: 'FunctionName', Value: { Ref: 'WebhookFunction' } }] });
    expect(queries.filter((q) => q.MetricStat !== undefined).length).toBeLessThanOrEqual(10);
  });
});
