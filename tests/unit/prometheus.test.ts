/**
 * The Prometheus metrics of `serve --metrics-listen` (src/observability/prometheus.ts) against the
 * EMF documents of the same requests: the real handler answers a mix of requests (patched by two
 * rules, a dry run, a denial after an existence check, an invalid image, a bad body, a wrong token,
 * a health check), and every Prometheus count equals what the EMF documents add up to; the labels
 * are `outcome` and `rule` only; without a tap nothing changes (no property, the same documents).
 */
import { afterEach, describe, expect, it } from '@jest/globals';
import { AggregatorRegistry } from 'prom-client';
import { parseRules } from '../../src/config/load.js';
import { fixedRules } from '../../src/config/sources.js';
import { createHandler } from '../../src/lambda/handler.js';
import { DURATION_BUCKETS, prometheusMetrics } from '../../src/observability/prometheus.js';
import { count, createObservability, Metric, type MetricsTap, OUTCOMES, recordOutcome, recordVerify } from '../../src/observability/telemetry.js';
import { podReview } from '../helpers/admission-review.js';
import { EVENT_TOKEN, type JsonObject, loadEvent, withBody } from '../helpers/events.js';
import { type Route, useFakeRegistry } from '../helpers/fake-registry.js';

const registry = useFakeRegistry();
const EVENT = loadEvent('rest-pod-v1.json');

interface Sample {
  readonly value: number;
  readonly labels: Record<string, string | number>;
  readonly metricName?: string;
}
interface Family {
  readonly name: string;
  readonly type: string;
  readonly values: Sample[];
}

async function families(metrics: ReturnType<typeof prometheusMetrics>): Promise<Map<string, Family>> {
  const json = (await metrics.registry.getMetricsAsJSON()) as unknown as Family[];
  return new Map(json.map((f) => [f.name, f]));
}

/** The value of `name` (a sample's own name for a histogram's `_count`) with exactly `labels`. */
function value(all: Map<string, Family>, name: string, labels: Record<string, string> = {}, sample?: string): number | undefined {
  const family = all.get(name);
  return family?.values.find((v) => (sample === undefined || v.metricName === sample) && JSON.stringify(v.labels) === JSON.stringify(labels))?.value;
}

/** Sum of each EMF metric over the documents, by Outcome (`-` for none). */
function emfSums(lines: readonly string[]): Map<string, number> {
  const sums = new Map<string, number>();
  for (const line of lines) {
    const doc = JSON.parse(line) as JsonObject;
    if (!('_aws' in doc)) continue;
    const directives = (doc['_aws'] as { CloudWatchMetrics: { Metrics: { Name: string }[] }[] }).CloudWatchMetrics;
    for (const d of directives) {
      for (const m of d.Metrics) {
        const key = `${m.Name}/${typeof doc['Outcome'] === 'string' ? doc['Outcome'] : '-'}`;
        sums.set(key, (sums.get(key) ?? 0) + Number(doc[m.Name]));
        sums.set(`${m.Name}/*`, (sums.get(`${m.Name}/*`) ?? 0) + (m.Name === 'VerifyLatency' ? 1 : Number(doc[m.Name])));
      }
    }
  }
  return sums;
}

const RULES = (host: string): string => `rules:
  - name: gcr
    match: gcr.io
    replace: asia.gcr.io
  - name: quay
    match: quay.io
    replace: mirror.example.com/quay
  - name: checked
    match: registry.example.com
    replace: ${host}/checked
    verify: true
    onMissing: deny
`;

const pod = (...images: string[]): JsonObject => withBody(EVENT, podReview({ metadata: { name: 'p' }, spec: { containers: images.map((image, i) => ({ name: `c${String(i)}`, image })) } }));

/** The handler with `tap` (or none), answering every kind of request once; the EMF lines it wrote. */
async function answerAll(tap: MetricsTap | undefined, route: Route = (_q, s) => s.writeHead(404).end()): Promise<string[]> {
  const lines: string[] = [];
  const obs = createObservability({ logLevel: 'SILENT', sink: (l) => lines.push(l), tap });
  const parsed = parseRules(RULES(registry.fake.host), {});
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
  registry.fake.route = route;
  const handler = createHandler({ rules: fixedRules(parsed.rewriter, 'test'), token: EVENT_TOKEN, logger: obs.logger, metrics: obs.metrics, verifier: registry.verifier() });
  const statuses = [
    await handler(pod('gcr.io/a:1', 'gcr.io/b:1', 'quay.io/c:1')),
    await handler(withBody(EVENT, podReview({ spec: { containers: [{ name: 'c', image: 'gcr.io/a:1' }] } }, { dryRun: true }))),
    await handler(pod('registry.example.com/app:1', 'gcr.io/a:1')),
    await handler(pod('Not An Image')),
    await handler(withBody(EVENT, '{not json')),
    await handler({ ...EVENT, path: '/mutate/wrong-token-wrong-token', pathParameters: { token: 'wrong-token-wrong-token' } }),
    await handler({ ...EVENT, httpMethod: 'GET', path: '/healthz', pathParameters: null, body: null }),
  ].map((r) => r.statusCode);
  expect(statuses).toEqual([200, 200, 200, 200, 400, 401, 200]);
  return lines;
}

afterEach(() => {
  delete process.env['POWERTOOLS_METRICS_DISABLED'];
});

describe('Prometheus metrics from the handler', () => {
  it('count what the EMF documents count, request for request', async () => {
    const metrics = prometheusMetrics({ processMetrics: false });
    const emf = emfSums(await answerAll(metrics.tap));
    const all = await families(metrics);
    // Exact, so that a count that moved or went missing shows.
    const reviews = Object.fromEntries(OUTCOMES.map((o) => [o, value(all, 'image_rewriter_admission_reviews_total', { outcome: o })]));
    expect(reviews).toEqual({ patched: 1, unchanged: 1, skipped: 0, failopen: 0, denied: 1, bad_request: 1, unauthorized: 1, error: 0, dryrun: 1 });
    for (const o of OUTCOMES) expect({ o, n: reviews[o] }).toEqual({ o, n: emf.get(`Reviews/${o}`) ?? 0 });
    // The denied review's rewrite by gcr and the dry run's are not counted, as in EMF.
    expect(all.get('image_rewriter_rewrites_total')?.values.map((v) => [v.labels['rule'], v.value])).toEqual([['gcr', 2], ['quay', 1]]);
    expect(emf.get('Rewrites/*')).toBe(3);
    const pairs: [string, string][] = [
      ['image_rewriter_invalid_images_total', 'InvalidImages'],
      ['image_rewriter_unauthorized_requests_total', 'AuthFailures'],
      ['image_rewriter_verify_checks_total', 'VerifyChecks'],
      ['image_rewriter_verify_missing_total', 'VerifyMissing'],
    ];
    for (const [prom, name] of pairs) expect({ prom, n: value(all, prom) }).toEqual({ prom, n: emf.get(`${name}/*`) });
    expect([value(all, 'image_rewriter_invalid_images_total'), value(all, 'image_rewriter_verify_checks_total'), value(all, 'image_rewriter_verify_missing_total')]).toEqual([1, 1, 1]);
    expect(value(all, 'image_rewriter_verify_cache_hits_total')).toBe(emf.get('VerifyCacheHits/*') ?? 0);
    expect(value(all, 'image_rewriter_verify_errors_total')).toBe(emf.get('VerifyErrors/*') ?? 0);
    expect(value(all, 'image_rewriter_verify_duration_seconds', {}, 'image_rewriter_verify_duration_seconds_count')).toBe(emf.get('VerifyLatency/*'));
    // Every request the handler counted has its time, the health check none.
    expect(value(all, 'image_rewriter_review_duration_seconds', {}, 'image_rewriter_review_duration_seconds_count')).toBe(6);
    expect(emf.get('Reviews/*')).toBe(6);
  });

  it('count an existence check that errs, and one from the cache', async () => {
    const metrics = prometheusMetrics({ processMetrics: false });
    const emf = emfSums(await answerAll(metrics.tap, (_q, s) => s.writeHead(500).end()));
    const all = await families(metrics);
    expect(value(all, 'image_rewriter_verify_errors_total')).toBe(1);
    expect(value(all, 'image_rewriter_verify_errors_total')).toBe(emf.get('VerifyErrors/*'));
    const fresh = prometheusMetrics({ processMetrics: false });
    recordVerify(createObservability({ logLevel: 'SILENT', sink: () => undefined, tap: fresh.tap }).metrics, { checks: 3, cacheHits: 2, missing: 0, errors: 0, latencyMs: 250 });
    const after = await families(fresh);
    expect(value(after, 'image_rewriter_verify_cache_hits_total')).toBe(2);
    expect(value(after, 'image_rewriter_verify_checks_total')).toBe(3);
    // 250 ms in seconds: in the 0.25 bucket, not the 0.1 one.
    const bucket = (le: number): number | undefined => after.get('image_rewriter_verify_duration_seconds')?.values.find((v) => v.metricName === 'image_rewriter_verify_duration_seconds_bucket' && v.labels['le'] === le)?.value;
    expect([bucket(0.1), bucket(0.25)]).toEqual([0, 1]);
  });

  it('observe a review\'s duration in seconds: 250 ms in the 0.25 bucket, not the 0.1 one', async () => {
    const metrics = prometheusMetrics({ processMetrics: false });
    metrics.tap.duration(250);
    const all = await families(metrics);
    const bucket = (le: number): number | undefined => all.get('image_rewriter_review_duration_seconds')?.values.find((v) => v.metricName === 'image_rewriter_review_duration_seconds_bucket' && v.labels['le'] === le)?.value;
    expect([bucket(0.1), bucket(0.25)]).toEqual([0, 1]);
    expect(value(all, 'image_rewriter_review_duration_seconds', {}, 'image_rewriter_review_duration_seconds_sum')).toBe(0.25);
  });

  it('count ConfigErrors and ConfigRefreshes as count() adds them, and leave the other names to their own events', async () => {
    const metrics = prometheusMetrics({ processMetrics: false });
    const { metrics: m } = createObservability({ logLevel: 'SILENT', sink: () => undefined, tap: metrics.tap });
    count(m, Metric.ConfigErrors);
    count(m, Metric.ConfigErrors, 2);
    count(m, Metric.ConfigRefreshes);
    const all = await families(metrics);
    expect([value(all, 'image_rewriter_config_errors_total'), value(all, 'image_rewriter_config_refreshes_total')]).toEqual([3, 1]);
  });

  it('read image_rewriter_rules_stale from the rules at each scrape', async () => {
    const metrics = prometheusMetrics({ processMetrics: false });
    expect(await metrics.registry.metrics()).toContain('\nimage_rewriter_rules_stale 0\n');
    let stale = true;
    metrics.watchRules({ stale: () => stale });
    expect(await metrics.registry.metrics()).toContain('\nimage_rewriter_rules_stale 1\n');
    stale = false;
    expect(await metrics.registry.metrics()).toContain('\nimage_rewriter_rules_stale 0\n');
  });

  it('have no certificate expiration until a certificate is loaded (a 0 would read as expired in 1970), then the last one, the earliest across workers', async () => {
    const name = 'image_rewriter_certificate_expiration_timestamp_seconds';
    const metrics = prometheusMetrics({ processMetrics: false });
    expect(await metrics.registry.metrics()).not.toContain(name);
    metrics.certificate(Date.parse('2027-03-01T12:00:00Z'));
    expect(await metrics.registry.metrics()).toContain(`\n${name} ${String(Date.parse('2027-03-01T12:00:00Z') / 1000)}\n`);
    metrics.certificate(Date.parse('2027-06-01T00:00:00Z'));
    expect(value(await families(metrics), name)).toBe(Date.parse('2027-06-01T00:00:00Z') / 1000);
    const other = prometheusMetrics({ processMetrics: false });
    other.certificate(Date.parse('2027-01-01T00:00:00Z'));
    const sum = AggregatorRegistry.aggregate([await metrics.registry.getMetricsAsJSON(), await other.registry.getMetricsAsJSON()]);
    expect(await sum.metrics()).toContain(`\n${name} ${String(Date.parse('2027-01-01T00:00:00Z') / 1000)}\n`);
  });

  it('count with EMF turned off (POWERTOOLS_METRICS_DISABLED), which is about the documents only', async () => {
    process.env['POWERTOOLS_METRICS_DISABLED'] = 'true';
    const metrics = prometheusMetrics({ processMetrics: false });
    const lines = await answerAll(metrics.tap);
    expect(lines.filter((l) => l.includes('"_aws"'))).toEqual([]);
    expect(value(await families(metrics), 'image_rewriter_admission_reviews_total', { outcome: 'patched' })).toBe(1);
  });

  it('have bounded labels, Prometheus names (_total counters, _seconds histograms) and the process metrics', async () => {
    const metrics = prometheusMetrics();
    await answerAll(metrics.tap);
    const all = [...(await families(metrics)).values()];
    const ours = all.filter((f) => f.name.startsWith('image_rewriter_'));
    expect(ours.length).toBe(13);
    const labels = new Set(ours.flatMap((f) => f.values.flatMap((v) => Object.keys(v.labels))));
    expect([...labels].sort()).toEqual(['le', 'outcome', 'rule']);
    for (const f of ours) {
      if (f.type === 'counter') expect(f.name).toMatch(/_total$/);
      else if (f.type === 'histogram') expect(f.name).toMatch(/_seconds$/);
      else expect({ name: f.name, type: f.type }).toEqual({ name: 'image_rewriter_rules_stale', type: 'gauge' });
    }
    expect(all.map((f) => f.name)).toEqual(expect.arrayContaining(['process_cpu_user_seconds_total', 'process_resident_memory_bytes', 'nodejs_eventloop_lag_seconds']));
    expect(DURATION_BUCKETS[0]).toBe(0.001);
  });

  it('leave the handler as it was without a tap: no property on the metrics, the same EMF documents', async () => {
    const { metrics } = createObservability({ logLevel: 'SILENT', sink: () => undefined });
    expect('tap' in metrics).toBe(false);
    recordOutcome(metrics, 'patched');
    const strip = (lines: string[]): string[] => lines.filter((l) => l.includes('"_aws"')).map((l) => l.replace(/"Timestamp":\d+/, '').replace(/"VerifyLatency":[\d.]+/, ''));
    const without = strip(await answerAll(undefined));
    const withTap = strip(await answerAll(prometheusMetrics({ processMetrics: false }).tap));
    expect(without.length).toBe(6);
    expect(withTap).toEqual(without);
  });
});
