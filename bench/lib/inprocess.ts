/**
 * Sections 1 and 2 of the benchmark, in this process: `review` on each workload, the Lambda handler
 * on a REST event carrying the same workload, and the same-run baseline: a minimal webhook in JS
 * (the demo's algorithm: a `startsWith` prefix map over the images, a JSON Patch, base64; no
 * parsing, no warnings, no annotations, no logs).
 *
 * Each call is timed on its own (`performance.now()` around it; one read of the clock, about
 * 0.1 µs, is inside every figure: 1% of a review, 5% of the cheapest baseline call). The cells (workload x first sight/repeated x subject) are run
 * in interleaved rounds so that a busy moment of the machine is shared by all of them. Every
 * answer of `review` and of the handler is checked after its batch (outside the timed calls).
 *
 * Heap allocated per call: after `gc()` (node --expose-gc), the growth of V8's used heap over a
 * batch of calls, divided by the batch size. With no collection in between (checked with
 * v8.GCProfiler; a batch that saw one is discarded and the batch made smaller), the growth is
 * exactly what the calls allocated, garbage included.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { GCProfiler, getHeapStatistics } from 'node:v8';
import type { Context } from 'aws-lambda';
import { parseRules } from '../../src/config/load.js';
import { review } from '../../src/core/review.js';
import type { Rewriter } from '../../src/core/rules.js';
import { DEFAULT_VERIFY_DEADLINE_MS } from '../../src/config/settings.js';
import { createHandler, type WebhookHandler } from '../../src/lambda/handler.js';
import { verifierFor } from '../../src/verify/setup.js';
import { ioDuring } from '../../tests/helpers/async-io.js';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { createObservability, flushMetrics, type Logger, type Metrics, recordOutcome, REVIEW_LOG_MESSAGE, reviewFields, usualReviewFieldsJson } from '../../src/observability/telemetry.js';
import { answerJson } from '../../src/core/render.js';
import { powertoolsLogger, powertoolsMetrics, powertoolsMinimalLogger } from './powertools.js';
import { Samples } from './stats.js';
import { BENCH_ENV, BENCH_RULES, problemWith, type Variant, Variants, type Workload, WORKLOADS, type WorkloadId } from './workloads.js';

export type Mode = 'first' | 'repeated';
export type Subject = 'review' | 'handler' | 'minimal';

export interface Cell {
  readonly workload: WorkloadId;
  readonly mode: Mode;
  readonly subject: Subject;
  /** Microseconds per call. */
  readonly samples: Samples;
  /** Bytes allocated per call (NaN when not measured). */
  heapPerCall: number;
}

export interface InProcessPlan {
  readonly rounds: number;
  /** Calls per cell per round. */
  readonly batch: number;
  /** Heap: batches kept per cell. */
  readonly heapBatches: number;
}

/** What the handler's overhead is made of, each timed alone on the 5-container Pod (µs per call). */
export interface Components {
  /** `JSON.parse` of the request body (the handler cannot skip it). */
  readonly parse: Samples;
  /** The review's one log line through the handler's Logger (formatted, not written). */
  readonly logLine: Samples;
  /** The same line through Powertools' Logger (standard formatter, then a minimal one). */
  readonly logLinePowertools: Samples;
  readonly logLinePowertoolsMinimal: Samples;
  /** The invocation's one EMF document (Reviews and Rewrites by Outcome), formatted, not written. */
  readonly emf: Samples;
  /** The same document through Powertools' Metrics. */
  readonly emfPowertools: Samples;
  /** `JSON.stringify` of the AdmissionReview answer (the handler's reply body). */
  readonly stringify: Samples;
}

export interface InProcessResult {
  readonly cells: readonly Cell[];
  /** The I/O resources (sockets, DNS requests, file operations) the handler started over `calls` reviews, by type. */
  readonly io: { readonly calls: number; readonly started: Readonly<Record<string, number>> };
  readonly components: Components;
  /** Answers checked. */
  readonly checked: number;
  readonly failures: readonly string[];
  readonly heapMeasured: boolean;
}

export const WEBHOOK_TOKEN = 'bench-token-0123456789abcdef';

/** The rewriter every section uses (the handler, `serve` and the Lambda bundle compile the same rules). */
export function benchRewriter(): Rewriter {
  const parsed = parseRules(BENCH_RULES, BENCH_ENV);
  if (!parsed.ok) throw new Error(`bench rules invalid: ${JSON.stringify(parsed.issues)}`);
  return parsed.rewriter;
}

// --- the same-run baseline ------------------------------------------------------------------------

const ECR = `${BENCH_ENV['AWS_ACCOUNT_ID'] ?? ''}.dkr.ecr.${BENCH_ENV['AWS_REGION'] ?? ''}.amazonaws.com`;
const DEMO_MAP: readonly (readonly [string, string])[] = [
  ['registry.k8s.io/', `${ECR}/k8s/`],
  ['gcr.io/', 'asia.gcr.io/'],
  ['quay.io/', 'mirror.example.com/quay/'],
  ['ghcr.io/', 'mirror.example.com/ghcr/'],
];

type Json = Record<string, unknown>;
const isRecord = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const field = (v: unknown, key: string): unknown => (isRecord(v) ? v[key] : undefined);

/** The demo's algorithm in JS, over every container list of a Pod or a pod template. */
function minimalWebhook(body: unknown): unknown {
  const request = field(body, 'request');
  const object = field(request, 'object');
  const template = field(field(object, 'spec'), 'template');
  const spec = template === undefined ? field(object, 'spec') : field(template, 'spec');
  const base = template === undefined ? '/spec' : '/spec/template/spec';
  const ops: Json[] = [];
  for (const list of ['initContainers', 'containers']) {
    const containers = field(spec, list);
    if (!Array.isArray(containers)) continue;
    containers.forEach((c: unknown, i) => {
      const image = field(c, 'image');
      if (typeof image !== 'string') return;
      const hit = DEMO_MAP.find(([from]) => image.startsWith(from));
      if (hit !== undefined) ops.push({ op: 'replace', path: `${base}/${list}/${i}/image`, value: hit[1] + image.slice(hit[0].length) });
    });
  }
  const response: Json = { uid: field(request, 'uid'), allowed: true };
  if (ops.length > 0) {
    response['patchType'] = 'JSONPatch';
    response['patch'] = Buffer.from(JSON.stringify(ops)).toString('base64');
  }
  return { apiVersion: field(body, 'apiVersion'), kind: 'AdmissionReview', response };
}

// --- the handler, as Lambda runs it -------------------------------------------------------------------

/** A Lambda context like the runtime's (the handler adds it to every log line). */
export function lambdaContext(requestId: string): Context {
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName: 'image-rewriter',
    functionVersion: '$LATEST',
    invokedFunctionArn: 'arn:aws:lambda:us-west-2:123456789012:function:image-rewriter',
    memoryLimitInMB: '256',
    awsRequestId: requestId,
    logGroupName: '/aws/lambda/image-rewriter',
    logStreamName: '2026/11/28/[$LATEST]0123456789abcdef0123456789abcdef',
    getRemainingTimeInMillis: () => 10_000,
    // The deprecated callbacks are part of the Context type; a promise handler never calls them.
    // eslint-disable-next-line @typescript-eslint/no-deprecated
    done: () => undefined,
    // eslint-disable-next-line @typescript-eslint/no-deprecated
    fail: () => undefined,
    // eslint-disable-next-line @typescript-eslint/no-deprecated
    succeed: () => undefined,
  };
}

/** events/rest-pod-v1.json (what API Gateway sends) with another body and this run's token. */
export function restEvent(repoRoot: string): (body: string) => Json {
  const template = JSON.parse(readFileSync(join(repoRoot, 'events', 'rest-pod-v1.json'), 'utf8')) as Json;
  const path = `/mutate/${WEBHOOK_TOKEN}`;
  return (body) => Object.assign({}, template, { path, pathParameters: { token: WEBHOOK_TOKEN }, body, isBase64Encoded: false });
}

/** Why a handler result is not a 200 with the right AdmissionReview for `variant`, or undefined. */
export function handlerProblem(workload: WorkloadId, variant: Variant, result: unknown): string | undefined {
  return handlerProblemFor(variants(workload).workload, variant, result);
}

/** The same, for any workload. */
export function handlerProblemFor(workload: Workload, variant: Variant, result: unknown): string | undefined {
  const status = field(result, 'statusCode');
  if (status !== 200) return `status ${String(status)}: ${String(field(result, 'body'))}`;
  const body = field(result, 'body');
  if (typeof body !== 'string') return 'no body';
  return problemWith(workload, variant, JSON.parse(body));
}

const variantsById = new Map<WorkloadId, Variants>();
function variants(id: WorkloadId): Variants {
  let v = variantsById.get(id);
  if (v === undefined) {
    const w = WORKLOADS.find((x) => x.id === id);
    if (w === undefined) throw new Error(`no workload ${id}`);
    v = new Variants(w);
    variantsById.set(id, v);
  }
  return v;
}

// --- running the cells -----------------------------------------------------------------------------

/** First-sight variants are numbered across the whole run, so no image is ever seen twice. */
let nextVariant = 1;

interface Prepared {
  readonly variant: Variant;
  readonly input: unknown;
}

function prepare(cell: Pick<Cell, 'workload' | 'mode' | 'subject'>, count: number, event: (body: string) => Json): Prepared[] {
  const v = variants(cell.workload);
  const out: Prepared[] = [];
  for (let i = 0; i < count; i++) {
    const variant = cell.mode === 'first' ? v.make(nextVariant++) : v.make();
    // The handler gets the text (it parses it); review and the baseline get what JSON.parse made of it.
    out.push({ variant, input: cell.subject === 'handler' ? event(variant.text) : JSON.parse(variant.text) });
  }
  return out;
}

type Call = (input: unknown, i: number) => unknown;

const gc = (): void => {
  (globalThis as { gc?: () => void }).gc?.();
};

export async function runInProcess(plan: InProcessPlan, repoRoot: string, progress: (s: string) => void): Promise<InProcessResult> {
  const rewriter = benchRewriter();
  // The handler's Logger and Metrics, formatting every line; the lines go nowhere (no I/O measured).
  const { logger, metrics } = createObservability({ sink: () => undefined, logLevel: 'INFO' });
  // The verifier as src/lambda/main.ts builds it (default settings); no bench rule verifies, so it
  // must never start I/O (counted below). An AWS client asked for would fail the answers.
  const noClient = (): Promise<never> => Promise.reject(new Error('bench: an AWS client was asked for'));
  const verifier = verifierFor({ deadlineMs: DEFAULT_VERIFY_DEADLINE_MS, credentials: { kind: 'none' } }, { ssm: noClient, secretsManager: noClient });
  const handler: WebhookHandler = createHandler({
    rules: { current: () => Promise.resolve({ ok: true, rewriter, source: 'bench' }) },
    token: WEBHOOK_TOKEN,
    logger,
    metrics,
    verifier,
  });
  const event = restEvent(repoRoot);
  const contexts = Array.from({ length: 64 }, (_, i) => lambdaContext(`c6af9ac6-7b61-11e6-9a41-${i.toString(16).padStart(12, '0')}`));
  const calls: Record<Subject, Call> = {
    review: (body) => review(body, rewriter),
    minimal: (body) => minimalWebhook(body),
    handler: (e, i) => handler(e, contexts[i % contexts.length]),
  };

  const cells: Cell[] = [];
  for (const w of WORKLOADS) {
    for (const mode of ['first', 'repeated'] as const) {
      for (const subject of ['review', 'handler', 'minimal'] as const) cells.push({ workload: w.id, mode, subject, samples: new Samples(), heapPerCall: Number.NaN });
    }
  }
  const failures: string[] = [];
  let checked = 0;
  const check = (cell: Cell, prepared: readonly Prepared[], answers: readonly unknown[]): void => {
    if (cell.subject === 'minimal') return;
    prepared.forEach((p, i) => {
      const answer = answers[i];
      const problem =
        cell.subject === 'handler'
          ? handlerProblem(cell.workload, p.variant, answer)
          : isRecord(answer) && answer['ok'] === true
            ? problemWith(variants(cell.workload).workload, p.variant, JSON.parse(JSON.stringify(answer['response'])))
            : `review failed: ${JSON.stringify(answer)}`;
      checked++;
      if (problem !== undefined && failures.length < 20) failures.push(`${cell.subject} ${cell.workload} ${cell.mode}: ${problem}`);
    });
  };

  const runBatch = async (cell: Cell, count: number, record: boolean): Promise<void> => {
    const prepared = prepare(cell, count, event);
    const call = calls[cell.subject];
    const answers: unknown[] = [];
    let i = 0;
    for (const p of prepared) {
      const t0 = performance.now();
      let answer = call(p.input, i++);
      if (answer instanceof Promise) answer = await answer;
      const t1 = performance.now();
      if (record) cell.samples.add((t1 - t0) * 1000);
      answers.push(answer);
    }
    check(cell, prepared, answers);
  };

  // Warm up (JIT), then the measured rounds.
  for (const cell of cells) await runBatch(cell, Math.max(plan.batch, 100), false);
  for (let r = 0; r < plan.rounds; r++) {
    progress(`in-process round ${r + 1}/${plan.rounds}`);
    for (const cell of cells) await runBatch(cell, plan.batch, true);
  }

  const heapMeasured = typeof (globalThis as { gc?: unknown }).gc === 'function';
  if (heapMeasured) {
    progress('heap per call');
    for (const cell of cells) cell.heapPerCall = await heapPerCall(cell, calls[cell.subject], event, plan.heapBatches);
  }
  // One more (untimed) round of the handler with async_hooks counting the I/O it starts: a hook
  // slows every promise, so it is never on while timing.
  progress('I/O of the handler');
  const handlerCells = cells.filter((c) => c.subject === 'handler');
  const io = await ioDuring(async () => {
    for (const cell of handlerCells) await runBatch(cell, plan.batch, false);
  });
  progress('handler overhead components');
  const components = measureComponents(plan, logger, metrics, rewriter);
  return { cells, checked, failures, heapMeasured, components, io: { calls: handlerCells.length * plan.batch, started: io } };
}

/** Time the parts of the handler's overhead alone, in interleaved rounds like the cells. */
function measureComponents(plan: InProcessPlan, logger: Logger, metrics: Metrics, rewriter: Rewriter): Components {
  const v = variants('pod5');
  const texts = Array.from({ length: plan.batch }, () => v.make(nextVariant++).text);
  const answer = review(JSON.parse(texts[0] ?? '{}'), rewriter);
  if (!answer.ok) throw new Error('bench: the 5-container Pod does not review');
  const { fields } = reviewFields(answer.report, 'patched');
  Object.assign(fields, { rules: 'bench', rulesVersion: '2026-11-28T00:00:00Z', durationMs: 80.1 });
  const drop = (): void => undefined;
  const context = lambdaContext('c6af9ac6-7b61-11e6-9a41-93e8deadbeef');
  const [pt, ptMinimal, ptMetrics] = [powertoolsLogger(drop), powertoolsMinimalLogger(drop), powertoolsMetrics(drop)];
  pt.addContext(context);
  ptMinimal.addContext(context);
  logger.addContext(context);
  const out: Components = {
    parse: new Samples(),
    logLine: new Samples(),
    logLinePowertools: new Samples(),
    logLinePowertoolsMinimal: new Samples(),
    emf: new Samples(),
    emfPowertools: new Samples(),
    stringify: new Samples(),
  };
  const time = (samples: Samples, record: boolean, f: (i: number) => unknown): void => {
    for (let i = 0; i < plan.batch; i++) {
      const t0 = performance.now();
      f(i);
      const t1 = performance.now();
      if (record) samples.add((t1 - t0) * 1000);
    }
  };
  for (let r = 0; r <= plan.rounds; r++) {
    const record = r > 0; // round 0 warms up
    time(out.parse, record, (i) => JSON.parse(texts[i] ?? ''));
    // As the handler writes the usual review's line: its fields' JSON built from the report, then the line.
    time(out.logLine, record, () => {
      const usual = usualReviewFieldsJson(answer.report, 'patched');
      if (usual === undefined) logger.info(REVIEW_LOG_MESSAGE, reviewFields(answer.report, 'patched').fields);
      else logger.infoWithFieldsJson(REVIEW_LOG_MESSAGE, `${usual},"rules":"bench","rulesVersion":"2026-11-28T00:00:00Z","durationMs":80.1`);
    });
    time(out.logLinePowertools, record, () => {
      pt.info(REVIEW_LOG_MESSAGE, fields);
    });
    time(out.logLinePowertoolsMinimal, record, () => {
      ptMinimal.info(REVIEW_LOG_MESSAGE, fields);
    });
    time(out.emf, record, () => {
      recordOutcome(metrics, 'patched', answer.report);
      flushMetrics(metrics);
    });
    time(out.emfPowertools, record, () => {
      // What recordOutcome stores for this review, through Powertools' Metrics.
      ptMetrics.addDimension('Outcome', 'patched');
      ptMetrics.addMetric('Reviews', MetricUnit.Count, 1);
      ptMetrics.addMetric('Rewrites', MetricUnit.Count, answer.report.rewrites.length);
      ptMetrics.publishStoredMetrics();
    });
    time(out.stringify, record, () => answerJson(answer.response));
  }
  return out;
}

/** Median over `batches` GC-free batches of (used heap after - before) / calls. */
async function heapPerCall(cell: Cell, call: Call, event: (body: string) => Json, batches: number): Promise<number> {
  const kept = new Samples();
  let size = 64;
  for (let attempt = 0; attempt < batches * 4 && kept.count < batches; attempt++) {
    const prepared = prepare(cell, size, event);
    const answers: unknown[] = [];
    gc();
    gc();
    const profiler = new GCProfiler();
    profiler.start();
    const before = getHeapStatistics().used_heap_size;
    let i = 0;
    for (const p of prepared) {
      let answer = call(p.input, i++);
      if (answer instanceof Promise) answer = await answer;
      answers.push(answer);
    }
    const after = getHeapStatistics().used_heap_size;
    const collections = profiler.stop().statistics.length;
    if (collections === 0) kept.add((after - before) / size);
    else size = Math.max(4, size >> 1);
  }
  return kept.median;
}
