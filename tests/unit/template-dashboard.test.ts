/**
 * template.yaml's CloudWatch dashboard shows the counts the function writes: the EMF documents of
 * real handler answers (a review that rewrote one image and found another invalid, a fail-open
 * one, a wrong token) are read for their (metric, Outcome) pairs, and each pair of a plotted metric must be on
 * the dashboard, by a metric line with that Outcome or by a SEARCH over every Outcome. Every Outcome
 * (the dry runs' `dryrun` too) is on "Reviews by outcome" and in ConfigErrorAlarm's sum.
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

describe('template.yaml dashboard and ConfigErrorAlarm', () => {
  it('plots every ConfigErrors series the alarm sums, the one a failed cold start writes without an Outcome included', () => {
    const metrics = loadTemplate().Resources['ConfigErrorAlarm']?.Properties['Metrics'] as { MetricStat?: { Metric: { MetricName: string; Dimensions: { Name: string; Value: string }[] } } }[];
    const outcomes = metrics.flatMap((m) => (m.MetricStat === undefined ? [] : [m.MetricStat.Metric.Dimensions.find((d) => d.Name === 'Outcome')?.Value ?? NO_OUTCOME]));
    expect(outcomes).toContain(NO_OUTCOME);
    const widgets = dashboard();
    expect(outcomes.filter((outcome) => !shown(widgets, 'ConfigErrors', outcome))).toEqual([]);
    expect([...OUTCOMES, NO_OUTCOME].filter((outcome) => !shown(widgets, 'ConfigRefreshes', outcome))).toEqual([]);
  });
});

describe('template.yaml ConfigErrorAlarm', () => {
  it('sums ConfigErrors over every Outcome (dryrun included) and without one, within the 10 metrics an alarm may read', () => {
    const metrics = loadTemplate().Resources['ConfigErrorAlarm']?.Properties['Metrics'] as { MetricStat?: { Metric: { MetricName: string; Dimensions: { Name: string; Value: string }[] } } }[];
    const stats = metrics.flatMap((m) => (m.MetricStat === undefined ? [] : [m.MetricStat.Metric]));
    expect(stats.every((m) => m.MetricName === 'ConfigErrors')).toBe(true);
    const outcomes = stats.map((m) => m.Dimensions.find((d) => d.Name === 'Outcome')?.Value ?? '(none)');
    expect([...outcomes].sort()).toEqual([...OUTCOMES, '(none)'].sort());
    expect(stats.length).toBeLessThanOrEqual(10);
  });
});
