/**
 * The Logger and Metrics: what reaches stdout by default (Powertools' own Console, as on Lambda),
 * what reaches an injected sink, and the review-to-metrics/log helpers.
 */
import { afterEach, describe, expect, it, jest } from '@jest/globals';
import type { ReviewReport } from '../../src/core/admission.js';
import {
  count,
  createObservability,
  flushMetrics,
  logReport,
  Metric,
  METRICS_NAMESPACE,
  OUTCOMES,
  recordOutcome,
  SERVICE_NAME,
} from '../../src/observability/telemetry.js';
import { captureObservability } from '../helpers/events.js';

const report = (over: Partial<ReviewReport> = {}): ReviewReport => ({
  uid: 'u-1',
  kind: 'v1/Pod',
  namespace: 'shop',
  name: 'web',
  operation: 'CREATE',
  rewrites: [],
  invalid: [],
  malformed: [],
  ...over,
});

const rewrite = (rule: string, container: string) => ({
  containerName: container,
  list: 'containers' as const,
  pointer: '/spec/containers/0/image',
  from: `gcr.io/${container}`,
  to: `asia.gcr.io/${container}`,
  rule,
});

/** JSON lines written to process.stdout while `run` runs (nothing reaches the real stdout). */
function captureStdout(run: () => void): Record<string, unknown>[] {
  const written: string[] = [];
  const spy = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    written.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
    return true;
  });
  try {
    run();
  } finally {
    spy.mockRestore();
  }
  return written
    .join('')
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe('createObservability without a sink (as on Lambda)', () => {
  it('writes JSON log lines and EMF documents to stdout', () => {
    const lines = captureStdout(() => {
      const { logger, metrics } = createObservability({ logLevel: 'INFO' });
      logger.info('hello', { uid: 'u-1' });
      count(metrics, Metric.Reviews);
      metrics.singleMetric().addDimension('Rule', 'gcr').addMetric(Metric.Rewrites, 'Count', 2);
      flushMetrics(metrics);
    });
    expect(lines).toEqual([
      expect.objectContaining({ level: 'INFO', message: 'hello', service: SERVICE_NAME, uid: 'u-1' }),
      expect.objectContaining({ service: SERVICE_NAME, Rule: 'gcr', Rewrites: 2 }),
      expect.objectContaining({
        service: SERVICE_NAME,
        Reviews: 1,
        _aws: expect.objectContaining({
          CloudWatchMetrics: [{ Namespace: METRICS_NAMESPACE, Dimensions: [['service']], Metrics: [{ Name: 'Reviews', Unit: 'Count' }] }],
        }),
      }),
    ]);
  });

  it('honours POWERTOOLS_LOG_LEVEL when no level is given', () => {
    const lines = captureStdout(() => {
      const { logger } = createObservability(); // tests/setup-env.ts sets SILENT
      logger.error('not shown');
    });
    expect(lines).toEqual([]);
  });
});

describe('createObservability with a sink', () => {
  const saved = process.env['POWERTOOLS_METRICS_DISABLED'];
  afterEach(() => {
    if (saved === undefined) delete process.env['POWERTOOLS_METRICS_DISABLED'];
    else process.env['POWERTOOLS_METRICS_DISABLED'] = saved;
  });

  it('sends everything to the sink and nothing to stdout', () => {
    const obs = captureObservability();
    const stdout = captureStdout(() => {
      obs.logger.warn('careful', { a: 1 });
      count(obs.metrics, Metric.ConfigErrors, 2);
      obs.metrics.singleMetric().addDimension('Rule', 'r').addMetric(Metric.Rewrites, 'Count', 1);
      flushMetrics(obs.metrics);
    });
    expect(stdout).toEqual([]);
    expect(obs.logs()).toEqual([expect.objectContaining({ level: 'WARN', message: 'careful', a: 1, service: SERVICE_NAME })]);
    expect(obs.emf()).toEqual([expect.objectContaining({ Rule: 'r', Rewrites: 1 }), expect.objectContaining({ ConfigErrors: 2 })]);
  });

  it('writes nothing when nothing was recorded', () => {
    const obs = captureObservability();
    flushMetrics(obs.metrics);
    obs.metrics.publishStoredMetrics();
    expect(obs.lines).toEqual([]);
  });

  it('writes no EMF when metrics are disabled, and clears them', () => {
    process.env['POWERTOOLS_METRICS_DISABLED'] = 'true';
    const obs = captureObservability();
    count(obs.metrics, Metric.Reviews);
    flushMetrics(obs.metrics);
    expect(obs.emf()).toEqual([]);
    expect(obs.metrics.hasStoredMetrics()).toBe(false);
  });
});

describe('recordOutcome', () => {
  it.each(OUTCOMES)('counts a review with Outcome %s', (outcome) => {
    const obs = captureObservability();
    recordOutcome(obs.metrics, outcome);
    flushMetrics(obs.metrics);
    const [doc, ...more] = obs.emf();
    expect(more).toEqual([]);
    expect(doc).toMatchObject({ Outcome: outcome, Reviews: 1 });
    if (outcome === 'unauthorized') expect(doc).toMatchObject({ AuthFailures: 1 });
    else expect(doc).not.toHaveProperty('AuthFailures');
  });

  it('counts rewrites and invalid images in the one document (per rule: the log lines)', () => {
    const obs = captureObservability();
    const invalid = { containerName: 'x', list: 'containers' as const, pointer: '/spec/containers/3/image', image: 'A', error: 'bad' };
    recordOutcome(obs.metrics, 'patched', report({ rewrites: [rewrite('gcr', 'a'), rewrite('hub', 'b'), rewrite('gcr', 'c')], invalid: [invalid] }));
    flushMetrics(obs.metrics);
    expect(obs.emf()).toEqual([expect.objectContaining({ Outcome: 'patched', Reviews: 1, Rewrites: 3, InvalidImages: 1 })]);
    expect(obs.emf()[0]).not.toHaveProperty('Rule');
  });
});

describe('logReport', () => {
  it('logs one line per rewrite, invalid image and malformed field, never more', () => {
    const obs = captureObservability();
    const long = `x${'/y'.repeat(400)}`;
    logReport(
      obs.logger,
      report({
        rewrites: [rewrite('gcr', 'a'), rewrite('gcr', 'b')],
        invalid: [
          { containerName: 'c', list: 'initContainers', pointer: '/spec/initContainers/0/image', image: long, error: 'invalid reference format' },
          { containerName: undefined, list: 'containers', pointer: '/spec/containers/5/image', image: 'ok.io/a', error: 'rule r produced ...', rule: 'r' },
        ],
        malformed: [{ pointer: '/spec/containers/9/image', problem: 'image must be a string' }],
      }),
    );
    const logs = obs.logs();
    expect(logs.map((l) => l['message'])).toEqual([
      'image rewritten',
      'image rewritten',
      'image left unchanged: not a valid reference',
      'image left unchanged: not a valid reference',
      'pod spec fields skipped',
    ]);
    expect(logs[0]).toMatchObject({ uid: 'u-1', namespace: 'shop', kind: 'v1/Pod', name: 'web', container: 'a', list: 'containers', from: 'gcr.io/a', to: 'asia.gcr.io/a', rule: 'gcr' });
    expect(logs[2]).toMatchObject({ level: 'WARN', container: 'c', list: 'initContainers', error: 'invalid reference format' });
    expect(String(logs[2]?.['image'])).toHaveLength(515);
    expect(logs[2]).not.toHaveProperty('rule');
    expect(logs[3]).toMatchObject({ rule: 'r' });
    expect(logs[4]).toMatchObject({ listed: 1, fields: [{ pointer: '/spec/containers/9/image', problem: 'image must be a string' }] });
  });
});
