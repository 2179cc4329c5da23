/**
 * `Rewrites` by `Rule` in CloudWatch: template.yaml's metric filters, applied to the JSON lines the
 * webhook writes, give every rule's count. The filters are evaluated here as CloudWatch Logs
 * would (the subset of the JSON filter pattern syntax they use: `$.key = "text"`, `$.key = "*"`,
 * `$.key > number`, joined by `&&`; anything else fails the test), on the lines of the real Logger:
 * for generated reviews, through `reviewFields`, and for sample events, through the handler. A
 * denied review and a dry run count nothing.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { parse, type ScalarTag } from 'yaml';
import type { ReviewReport } from '../../src/core/admission.js';
import { createHandler } from '../../src/lambda/handler.js';
import { flushMetrics, recordOutcome, REVIEW_LOG_MESSAGE, reviewFields } from '../../src/observability/telemetry.js';
import { captureObservability, EVENT_TOKEN, eventReview, loadEvent, withBody } from '../helpers/events.js';
import { REPO_ROOT } from '../helpers/fixtures.js';
import { EXAMPLE_RULES } from '../../src/cli/invoke.js';
import { rewriterFrom } from '../helpers/rules.js';
import { podReview } from '../helpers/admission-review.js';

interface Filter {
  readonly name: string;
  readonly pattern: string;
  readonly value: string;
  readonly dimensions: readonly { Key: string; Value: string }[];
  readonly metric: string;
  readonly namespace: string;
  readonly logGroup: unknown;
}

// template.yaml's short-form tags, read as plain values: only the filters' properties are used here.
const TAGS: ScalarTag[] = ['!Ref', '!Sub', '!GetAtt', '!If', '!Equals', '!Not', '!And', '!Or', '!Select', '!Split', '!Join', '!FindInMap', '!Condition'].flatMap((tag) => [
  { tag, resolve: (s: string) => s },
  { tag, collection: 'seq', resolve: (v: unknown) => v } as unknown as ScalarTag,
  { tag, collection: 'map', resolve: (v: unknown) => v } as unknown as ScalarTag,
]);

function templateFilters(): Filter[] {
  const template = parse(readFileSync(join(REPO_ROOT, 'template.yaml'), 'utf8'), { customTags: TAGS }) as { Resources: Record<string, { Type: string; Properties: Record<string, unknown> }> };
  return Object.entries(template.Resources)
    .filter(([, r]) => r.Type === 'AWS::Logs::MetricFilter')
    .map(([name, r]) => {
      const [t] = r.Properties['MetricTransformations'] as { MetricValue: string; MetricName: string; MetricNamespace: string; Dimensions?: { Key: string; Value: string }[] }[];
      if (t === undefined) throw new Error(`${name}: no transformation`);
      return { name, pattern: String(r.Properties['FilterPattern']), value: t.MetricValue, dimensions: t.Dimensions ?? [], metric: t.MetricName, namespace: t.MetricNamespace, logGroup: r.Properties['LogGroupName'] };
    });
}

const TERM = /^\$\.([A-Za-z0-9_]+)\s*(=|>)\s*(?:"([^"]*)"|(-?\d+(?:\.\d+)?))$/;

/** Whether CloudWatch Logs would match the JSON `line` with `pattern` (the subset above). */
function matches(pattern: string, line: Record<string, unknown>): boolean {
  const body = /^\{\s*(.*?)\s*\}$/.exec(pattern)?.[1];
  if (body === undefined) throw new Error(`not a JSON filter pattern: ${pattern}`);
  return body.split('&&').every((raw) => {
    const term = TERM.exec(raw.trim());
    if (term === null) throw new Error(`unsupported term in ${pattern}: ${raw}`);
    const [, key = '', op, text, num] = term;
    const v = line[key];
    if (op === '>') return typeof v === 'number' && num !== undefined && v > Number(num);
    if (text === '*') return v !== undefined && v !== null;
    return typeof v === 'string' && v === text;
  });
}

/** Apply every filter to every line: the datapoints CloudWatch would publish, summed by metric and dimensions. */
function publish(filters: readonly Filter[], lines: readonly Record<string, unknown>[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of lines) {
    for (const f of filters) {
      if (!matches(f.pattern, line)) continue;
      const value = f.value.startsWith('$.') ? line[f.value.slice(2)] : Number(f.value);
      if (typeof value !== 'number') throw new Error(`${f.name}: ${f.value} is not a number in ${JSON.stringify(line)}`);
      const dims = f.dimensions.map((d) => `${d.Key}=${String(line[d.Value.slice(2)])}`).join(',');
      const key = `${f.namespace}/${f.metric}{${dims}}`;
      out.set(key, (out.get(key) ?? 0) + value);
    }
  }
  return out;
}

const byRule = (rewrites: readonly { rule: string }[]): Map<string, number> => {
  const m = new Map<string, number>();
  for (const r of rewrites) {
    const key = `ImageRewriter/Rewrites{Rule=${r.rule}}`;
    m.set(key, (m.get(key) ?? 0) + 1);
  }
  return m;
};

const rewrite = (rule: string, i: number) => ({ containerName: `c${String(i)}`, list: 'containers' as const, pointer: `/spec/containers/${String(i)}/image`, from: 'gcr.io/a', to: 'asia.gcr.io/a', rule });
const report = (rules: readonly string[]): ReviewReport => ({ uid: 'u', kind: 'v1/Pod', namespace: 'ns', name: 'p', operation: 'CREATE', rewrites: rules.map(rewrite), invalid: [], malformed: [] });

describe("template.yaml's per-rule metric filters", () => {
  const filters = templateFilters();

  it('are the five slot filters, on the review line, in the function log group', () => {
    expect(filters.map((f) => f.name).sort()).toEqual(['RewritesByRule1MetricFilter', 'RewritesByRule2MetricFilter', 'RewritesByRule3MetricFilter', 'RewritesByRule4MetricFilter', 'RewritesByRule5MetricFilter']);
    for (const f of filters) {
      expect(f.pattern).toContain(`$.message = "${REVIEW_LOG_MESSAGE}"`);
      expect(f.logGroup).toBe('WebhookFunctionLogGroup');
    }
  });

  it('count every rule exactly for reviews using up to five rules (any lines, any order)', () => {
    const rule = fc.constantFrom('gcr', 'hub', 'quay', 'k8s.io-mirror', 'a_b', 'ghcr', 'ecr');
    const review = fc.array(rule, { maxLength: 12 });
    fc.assert(
      fc.property(fc.array(review, { maxLength: 8 }), (reviews) => {
        fc.pre(reviews.every((r) => new Set(r).size <= 5));
        const obs = captureObservability();
        for (const rules of reviews) obs.logger.info(REVIEW_LOG_MESSAGE, reviewFields(report(rules), rules.length > 0 ? 'patched' : 'unchanged').fields);
        expect(publish(filters, obs.logs())).toEqual(byRule(reviews.flat().map((r) => ({ rule: r }))));
      }),
    );
  });

  it('count nothing for a denied review (onMissing: deny): its planned rewrites were never admitted', () => {
    const obs = captureObservability();
    const { fields } = reviewFields(report(['gcr', 'hub']), 'denied');
    obs.logger.warn(REVIEW_LOG_MESSAGE, fields);
    recordOutcome(obs.metrics, 'denied', report(['gcr', 'hub']));
    flushMetrics(obs.metrics);
    expect(publish(filters, obs.logs())).toEqual(new Map());
    expect(fields['rewritten']).toHaveLength(2);
    expect(obs.emf()).toEqual([expect.objectContaining({ Outcome: 'denied', Reviews: 1 })]);
    expect(obs.emf()[0]).not.toHaveProperty('Rewrites');
  });

  it('count nothing for a dry run (request.dryRun: kubectl diff, GitOps drift checks), whatever its outcome, and the other reviews exactly', () => {
    const rule = fc.constantFrom('gcr', 'hub', 'quay');
    const review = fc.record({ rules: fc.array(rule, { maxLength: 6 }), dryRun: fc.boolean() });
    fc.assert(
      fc.property(fc.array(review, { maxLength: 8 }), (reviews) => {
        const obs = captureObservability();
        for (const r of reviews) {
          const outcome = r.rules.length > 0 ? 'patched' : 'unchanged';
          const rep: ReviewReport = r.dryRun ? { ...report(r.rules), dryRun: true } : report(r.rules);
          obs.logger.info(REVIEW_LOG_MESSAGE, reviewFields(rep, outcome).fields);
          recordOutcome(obs.metrics, outcome, rep);
          flushMetrics(obs.metrics);
        }
        const admitted = reviews.filter((r) => !r.dryRun).flatMap((r) => r.rules);
        expect(publish(filters, obs.logs())).toEqual(byRule(admitted.map((r) => ({ rule: r }))));
        // The EMF count agrees with the filters: the dry runs are Reviews by Outcome dryrun, without Rewrites.
        const emf = obs.emf();
        expect(emf.reduce((n, d) => n + ((d['Rewrites'] as number | undefined) ?? 0), 0)).toBe(admitted.length);
        expect(emf.filter((d) => d['Outcome'] === 'dryrun')).toHaveLength(reviews.filter((r) => r.dryRun).length);
        expect(obs.logs().filter((l) => l['dryRun'] === true)).toHaveLength(reviews.filter((r) => r.dryRun).length);
      }),
    );
  });

  it('count nothing for the dry runs of the sample events through the handler, and the same events without dryRun exactly', async () => {
    const obs = captureObservability();
    const handler = createHandler({ rules: { current: () => Promise.resolve({ ok: true, rewriter: rewriterFrom(EXAMPLE_RULES), source: 'example' }) }, token: EVENT_TOKEN, logger: obs.logger, metrics: obs.metrics });
    const names = ['rest-pod-v1.json', 'rest-deployment-v1.json', 'rest-pod-v1beta1-demo.json'];
    const dryRun = (name: string): Record<string, unknown> => {
      const review = eventReview(loadEvent(name));
      (review['request'] as Record<string, unknown>)['dryRun'] = true;
      return withBody(loadEvent(name), review);
    };
    for (const name of names) await handler(dryRun(name));
    const dry = obs.logs().filter((l) => l['message'] === REVIEW_LOG_MESSAGE);
    expect(dry.map((l) => l['dryRun'])).toEqual(names.map(() => true));
    expect(dry.flatMap((l) => (l['rewritten'] as unknown[] | undefined) ?? []).length).toBeGreaterThanOrEqual(5);
    expect(publish(filters, obs.lines)).toEqual(new Map());
    for (const name of names) await handler(loadEvent(name));
    const truth = obs.logs().filter((l) => l['message'] === REVIEW_LOG_MESSAGE && l['dryRun'] === undefined).flatMap((l) => (l['rewritten'] as { rule: string }[] | undefined) ?? []);
    expect(publish(filters, obs.lines)).toEqual(byRule(truth));
  });

  it('count the first four rules exactly and the rest as "(other rules)" for a review using more, and the total stays exact', () => {
    const obs = captureObservability();
    const rules = ['a', 'b', 'c', 'd', 'a', 'e', 'f', 'c', 'f'];
    obs.logger.info(REVIEW_LOG_MESSAGE, reviewFields(report(rules), 'patched').fields);
    const published = publish(filters, obs.logs());
    expect(published).toEqual(
      new Map([
        ['ImageRewriter/Rewrites{Rule=a}', 2],
        ['ImageRewriter/Rewrites{Rule=b}', 1],
        ['ImageRewriter/Rewrites{Rule=c}', 2],
        ['ImageRewriter/Rewrites{Rule=d}', 1],
        ['ImageRewriter/Rewrites{Rule=(other rules)}', 3],
      ]),
    );
    expect([...published.values()].reduce((a, b) => a + b, 0)).toBe(rules.length);
  });

  // Seven rules, one host each: the rule of a rewrite is read back from its patch operation's value.
  const SEVEN = `rules:\n${['a', 'b', 'c', 'd', 'e', 'f', 'g'].map((r) => `  - name: ${r}\n    match: ${r}.example.com\n    replace: mirror.example.net/${r}\n`).join('')}`;
  const imageOf = (i: number): string => `${'abcdefg'[i % 7] ?? 'a'}.example.com/app${String(i)}:1`;
  const containers = (n: number, from = 0) => Array.from({ length: n }, (_, i) => ({ name: `c${String(i + from)}`, image: imageOf(i + from) }));
  const workload = (group: string, kind: string, resource: string, spec: unknown) => podReview({ metadata: { name: 'w' }, spec }, { kind: { group, version: 'v1', kind }, resource: { group, version: 'v1', resource } });
  const update = (object: unknown, oldObject: unknown, extra: Record<string, unknown> = {}) => podReview(object, { operation: 'UPDATE', oldObject, ...extra });
  const REVIEWS: readonly [string, unknown][] = [
    ['a Pod of 45 containers (more rewrites than the line lists, more rules than the slots)', podReview({ metadata: { name: 'p' }, spec: { containers: containers(45) } })],
    ['a dry run', podReview({ metadata: { name: 'p' }, spec: { containers: containers(9) } }, { dryRun: true })],
    ['an UPDATE (only the changed image)', update({ metadata: { name: 'p' }, spec: { containers: containers(3) } }, { metadata: { name: 'p' }, spec: { containers: [{ name: 'c0', image: imageOf(0) }] } })],
    ['a Deployment', workload('apps', 'Deployment', 'deployments', { template: { spec: { containers: containers(8), initContainers: containers(2, 20) } } })],
    ['a CronJob', workload('batch', 'CronJob', 'cronjobs', { jobTemplate: { spec: { template: { spec: { containers: containers(6) } } } } })],
    ['image volumes', podReview({ metadata: { name: 'p' }, spec: { containers: containers(1), volumes: Array.from({ length: 8 }, (_, i) => ({ name: `v${String(i)}`, image: { reference: imageOf(i + 1) } })) } })],
    [
      'an ephemeral container (kubectl debug)',
      update({ metadata: { name: 'p' }, spec: { containers: containers(2), ephemeralContainers: containers(1, 5) } }, { metadata: { name: 'p' }, spec: { containers: containers(2) } }, { subResource: 'ephemeralcontainers' }),
    ],
    ['invalid images beside rewrites', podReview({ metadata: { name: 'p' }, spec: { containers: [...containers(7), { name: 'bad', image: 'UPPER:x:y' }] } })],
  ];

  it.each(REVIEWS)("count exactly what the answer rewrote, through the handler: %s", async (_, review) => {
    const obs = captureObservability();
    const handler = createHandler({ rules: { current: () => Promise.resolve({ ok: true, rewriter: rewriterFrom(SEVEN), source: 'seven' }) }, token: EVENT_TOKEN, logger: obs.logger, metrics: obs.metrics });
    const result = await handler(withBody(loadEvent('rest-pod-v1.json'), review));
    const response = (JSON.parse(result.body) as { response: { patch?: string } }).response;
    const ops = response.patch === undefined ? [] : (JSON.parse(Buffer.from(response.patch, 'base64').toString('utf8')) as { path: string; value: unknown }[]);
    const dryRun = (review as { request: { dryRun?: boolean } }).request.dryRun === true;
    const rewritten = ops.filter((o) => /\/image$|\/image\/reference$/.test(o.path)).map((o) => ({ rule: /^mirror\.example\.net\/([a-g])\//.exec(String(o.value))?.[1] ?? '?' }));
    const truth = dryRun ? [] : rewritten;
    expect(dryRun || truth.length > 0).toBe(true);
    const published = publish(filters, obs.logs());
    // Past five rules a review counts the rest as "(other rules)": the sum is always exact.
    const sum = (m: Map<string, number>): number => [...m.values()].reduce((a, b) => a + b, 0);
    expect(sum(published)).toBe(truth.length);
    if (new Set(truth.map((t) => t.rule)).size <= 5) expect(published).toEqual(byRule(truth));
    expect(obs.emf().reduce((n, d) => n + ((d['Rewrites'] as number | undefined) ?? 0), 0)).toBe(truth.length);
  });

  it('count the rewrites of the sample events through the handler, and nothing from other lines or EMF', async () => {
    const obs = captureObservability();
    const handler = createHandler({ rules: { current: () => Promise.resolve({ ok: true, rewriter: rewriterFrom(EXAMPLE_RULES), source: 'example' }) }, token: EVENT_TOKEN, logger: obs.logger, metrics: obs.metrics });
    obs.logger.info('cold start', { rule1: 'x', rule1Rewrites: 5 });
    for (const name of ['rest-pod-v1.json', 'rest-deployment-v1.json', 'rest-pod-v1beta1-demo.json', 'rest-wrong-token.json', 'rest-bad-body.json']) await handler(loadEvent(name));
    const reviewed = obs.logs().filter((l) => l['message'] === REVIEW_LOG_MESSAGE);
    const truth = reviewed.flatMap((l) => (l['rewritten'] as { rule: string }[] | undefined) ?? []);
    expect(truth.length).toBeGreaterThanOrEqual(5);
    expect(publish(filters, obs.lines)).toEqual(byRule(truth));
  });
});
