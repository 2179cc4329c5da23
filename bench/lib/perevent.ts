/**
 * Section 5: per event, on a mix like a cluster's. The same API Gateway REST events (half
 * 1-container Pods, half 5-container Pods with 2 init and 3 app containers, each image drawn from a
 * pool of ten, each event its own uid) go through, in this process and in alternating order:
 * - the Lambda handler (`createHandler` with the Lambda's observability), its log line and EMF
 *   document written as in Lambda, one write per invocation, here to /dev/null;
 * - beside it, the same handler with its lines formatted and dropped (as in section 2), which shows
 *   what the write costs;
 * - a plain JavaScript handler of the demo's algorithm: JSON.parse of the body, a prefix map over
 *   every container, a JSON Patch of one `replace` per container, base64, the reply; no reference
 *   parsing, no logs, no metrics;
 * and, in a python3 process when there is one, the demo's own handler (bench/demo-handler.py) on the
 * same events, timed in its process the same way.
 *
 * The figure is the mean per event over a round of all the events (one clock read per round), the
 * median over the rounds. The answers of an untimed round of the handler, and of the handler beside
 * it, are checked (patch applied, images, pull secrets, annotation, warnings:
 * bench/lib/workloads.ts), and with `--quick` those of every timed round too (`checkTimed`); the
 * plain handler's and Python's patches must be the same operations.
 */
import { spawn } from 'node:child_process';
import { closeSync, openSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { Context } from 'aws-lambda';
import { createHandler, LAMBDA_MAX_RESULT_BYTES } from '../../src/lambda/handler.js';
import { createObservability } from '../../src/observability/telemetry.js';
import { benchRewriter, handlerProblemFor, lambdaContext, restEvent, WEBHOOK_TOKEN } from './inprocess.js';
import { Samples } from './stats.js';
import { type ContainerCase, ECR, type List, type Variant, Variants, type Workload } from './workloads.js';

export interface PerEventPlan {
  readonly events: number;
  readonly rounds: number;
  /**
   * `--quick`: every timed round's answers are held and checked once the round's clock has stopped
   * (the handler's and the handler's beside it), on top of the untimed round. Off in a full run,
   * whose figure is the recorded one: holding a round's thousands of answers moves them to the old
   * generation and its collections into the later rounds' times.
   */
  readonly checkTimed: boolean;
}

export interface PerEventResult {
  /** Mean µs per event, one sample per round. */
  readonly ours: Samples;
  /** The same handler with its lines formatted and dropped, not written. */
  readonly oursQuiet: Samples;
  readonly plain: Samples;
  /** Empty when python3 could not run. */
  readonly python: Samples;
  readonly pythonProblem: string | undefined;
  readonly events: number;
  readonly checked: number;
  readonly failures: readonly string[];
}

/** The demo's prefix map over the bench rules' registries (the demo's `image_mirrors`). */
const DEMO_PREFIXES: readonly (readonly [string, string])[] = [
  ['registry.k8s.io/', `${ECR}/k8s/`],
  ['gcr.io/', 'asia.gcr.io/'],
  ['quay.io/', 'mirror.example.com/quay/'],
  ['ghcr.io/', 'mirror.example.com/ghcr/'],
];

/** Ten images, with what the bench rules make of each (undefined: left as it is). */
const POOL: readonly (readonly [repository: string, tag: string, rewritten: string | undefined])[] = [
  ['gcr.io/example/web', '1.25', 'asia.gcr.io/example/web'],
  ['gcr.io/example/app', '2.0', 'asia.gcr.io/example/app'],
  ['registry.k8s.io/pause', '3.10', `${ECR}/k8s/pause`],
  ['registry.k8s.io/coredns/coredns', 'v1.11.3', `${ECR}/k8s/coredns/coredns`],
  ['quay.io/prometheus/node-exporter', 'v1.8.0', 'mirror.example.com/quay/prometheus/node-exporter'],
  ['ghcr.io/example/proxy', '1.0.3', 'mirror.example.com/ghcr/example/proxy'],
  ['nginx', '1.27', `${ECR}/docker-hub/library/nginx`],
  ['busybox', '1.36', undefined],
  ['registry.internal.example.com/team/worker', '7', undefined],
  [`${ECR}/team/app`, '1.4', undefined],
];

interface MixEvent {
  readonly workload: Workload;
  readonly variant: Variant;
  readonly event: Record<string, unknown>;
}

/** A deterministic sequence (a linear congruential generator): the same events every run. */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function mixEvents(count: number, event: (body: string) => Record<string, unknown>): MixEvent[] {
  const random = lcg(16);
  const out: MixEvent[] = [];
  for (let n = 0; n < count; n++) {
    const five = n % 2 === 1;
    const lists: List[] = five ? ['initContainers', 'initContainers', 'containers', 'containers', 'containers'] : ['containers'];
    const containers: ContainerCase[] = lists.map((list, i) => {
      const [repository, tag, rewritten] = POOL[Math.floor(random() * POOL.length)] ?? POOL[0] ?? ['', '', undefined];
      return { list, name: `c${i}`, repository, tag, rewritten };
    });
    const workload: Workload = {
      id: five ? 'pod5' : 'pod1',
      label: five ? '5-container Pod' : '1-container Pod',
      kind: 'Pod',
      containers,
      pullSecrets: containers.some((c) => c.repository === 'nginx') ? ['ecr-pull'] : [],
    };
    const variant = new Variants(workload).make(n + 1, true);
    out.push({ workload, variant, event: event(variant.text) });
  }
  return out;
}

type Json = Record<string, unknown>;
const isRecord = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const field = (v: unknown, key: string): unknown => (isRecord(v) ? v[key] : undefined);

/** The demo's algorithm in plain JavaScript, as an async Lambda handler (see bench/demo-handler.py). */
function plainHandler(event: unknown): Promise<unknown> {
  const body: unknown = JSON.parse(String(field(event, 'body')));
  const request = field(body, 'request');
  const spec = field(field(request, 'object'), 'spec');
  const ops: Json[] = [];
  for (const list of ['initContainers', 'containers']) {
    const containers = field(spec, list);
    if (!Array.isArray(containers)) continue;
    containers.forEach((c: unknown, i) => {
      let image = String(field(c, 'image'));
      for (const [from, to] of DEMO_PREFIXES) if (image.startsWith(from)) image = to + image.slice(from.length);
      ops.push({ op: 'replace', path: `/spec/${list}/${i}/image`, value: image });
    });
  }
  const patch = Buffer.from(JSON.stringify(ops)).toString('base64');
  const answer = { apiVersion: field(body, 'apiVersion'), kind: 'AdmissionReview', response: { uid: field(request, 'uid'), allowed: true, patch, patchType: 'JSONPatch' } };
  return Promise.resolve({ body: JSON.stringify(answer), headers: { 'Content-Type': 'application/json' }, statusCode: 200 });
}

const patchOf = (result: unknown): unknown => field(field(JSON.parse(String(field(result, 'body'))), 'response'), 'patch');
const decodePatch = (b64: unknown): string => JSON.stringify(JSON.parse(Buffer.from(String(b64), 'base64').toString('utf8')));

interface PythonRun {
  readonly roundsUs: readonly number[];
  readonly patches: readonly string[];
}

function runPython(script: string, eventsFile: string, rounds: number): Promise<PythonRun> {
  return new Promise((resolve, reject) => {
    const child = spawn('python3', [script, eventsFile, String(rounds), JSON.stringify(DEMO_PREFIXES)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (err += c));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) reject(new Error(`python3 exited ${String(code)}: ${err.slice(0, 500)}`));
      else resolve(JSON.parse(out) as PythonRun);
    });
  });
}

export async function runPerEvent(plan: PerEventPlan, repoRoot: string, tmpDir: string, progress: (s: string) => void): Promise<PerEventResult> {
  const rewriter = benchRewriter();
  const rules = { current: () => Promise.resolve({ ok: true as const, rewriter, source: 'bench' }) };
  // The handler as in Lambda: its lines written, with a system call per write, as to stdout
  // (here /dev/null; `fs.writeSync`, without the stream's own work around it).
  const devNull = openSync('/dev/null', 'w');
  const written = createObservability({ write: (text) => void writeSync(devNull, text), logLevel: 'INFO' });
  const ours = createHandler({ rules, token: WEBHOOK_TOKEN, logger: written.logger, metrics: written.metrics, output: written.output, maxResultBytes: LAMBDA_MAX_RESULT_BYTES });
  // Beside it: the same handler with its lines formatted and dropped (what the line's writes cost).
  const dropped = createObservability({ sink: () => undefined, logLevel: 'INFO' });
  const oursQuiet = createHandler({ rules, token: WEBHOOK_TOKEN, logger: dropped.logger, metrics: dropped.metrics, maxResultBytes: LAMBDA_MAX_RESULT_BYTES });
  const events = mixEvents(plan.events, restEvent(repoRoot));
  const contexts: Context[] = Array.from({ length: 64 }, (_, i) => lambdaContext(`c6af9ac6-7b61-11e6-9a41-${i.toString(16).padStart(12, '0')}`));

  const result = { ours: new Samples(), oursQuiet: new Samples(), plain: new Samples(), python: new Samples() };
  type Which = 'ours' | 'oursQuiet' | 'plain';
  const handlers: Readonly<Record<Which, (event: unknown, context: Context | undefined) => Promise<unknown>>> = { ours, oursQuiet, plain: plainHandler };
  const call = (which: Which, i: number): Promise<unknown> => handlers[which](events[i]?.event, contexts[i & 63]);
  const failures: string[] = [];
  let checked = 0;
  const check = (label: string, answers: readonly unknown[], round?: number): void => {
    events.forEach((e, i) => {
      checked++;
      const problem = handlerProblemFor(e.workload, e.variant, answers[i]);
      if (problem !== undefined && failures.length < 20) failures.push(`per event ${i} (${e.workload.label}, ${label}${round === undefined ? '' : `, timed round ${round}`}): ${problem}`);
    });
  };
  const labels: Readonly<Record<Which, string | undefined>> = { ours: 'handler', oursQuiet: 'handler, lines not written', plain: undefined };
  const round = async (which: Which, r: number): Promise<void> => {
    const label = plan.checkTimed && r > 0 ? labels[which] : undefined;
    const held: unknown[] = label === undefined ? [] : new Array<unknown>(events.length);
    const t0 = performance.now();
    if (label === undefined) for (let i = 0; i < events.length; i++) await call(which, i);
    else for (let i = 0; i < events.length; i++) held[i] = await call(which, i);
    const elapsed = performance.now() - t0;
    if (r > 0) result[which].add((elapsed * 1000) / events.length);
    if (label !== undefined) check(label, held, r);
  };
  // The checked answers come from a round of their own, untimed: holding every timed round's
  // thousands of answers would make the collector's work grow with the run, for both handlers.
  const answersOf = async (which: Which): Promise<unknown[]> => {
    const answers: unknown[] = [];
    for (let i = 0; i < events.length; i++) answers.push(await call(which, i));
    return answers;
  };
  // Round 0 warms up; then the order turns, so that each handler runs first, second and last.
  const orders: readonly (readonly Which[])[] = [
    ['ours', 'plain', 'oursQuiet'],
    ['plain', 'oursQuiet', 'ours'],
    ['oursQuiet', 'ours', 'plain'],
  ];
  let oursAnswers: unknown[];
  try {
    for (let r = 0; r <= plan.rounds; r++) {
      if (r > 0) progress(`per event round ${r}/${plan.rounds}`);
      for (const which of orders[r % orders.length] ?? []) await round(which, r);
    }
    oursAnswers = await answersOf('ours');
  } finally {
    closeSync(devNull);
  }
  // The handler beside it has a figure of its own in the table: its answers are checked too.
  const quietAnswers = await answersOf('oursQuiet');
  const plainAnswers = await answersOf('plain');

  check('handler', oursAnswers);
  check('handler, lines not written', quietAnswers);

  let pythonProblem: string | undefined;
  const eventsFile = join(tmpDir, 'per-event-events.json');
  writeFileSync(eventsFile, JSON.stringify(events.map((e) => e.event)));
  try {
    progress('per event: the demo handler in python3');
    const py = await runPython(join(repoRoot, 'bench', 'demo-handler.py'), eventsFile, plan.rounds);
    for (const v of py.roundsUs) result.python.add(v);
    events.forEach((_, i) => {
      checked++;
      if (decodePatch(py.patches[i]) !== decodePatch(patchOf(plainAnswers[i])) && failures.length < 20) failures.push(`per event ${i}: the Python demo's patch differs from the plain JS handler's`);
    });
  } catch (e) {
    pythonProblem = e instanceof Error ? e.message : String(e);
  }
  return { ...result, pythonProblem, events: events.length, checked, failures };
}
