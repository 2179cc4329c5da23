/**
 * What image-rewriter emits, judged by the readers others use rather than by our own reading of it
 * (hack/observability-oracle, built from the Go module proxy):
 * - `serve --workers 2 --metrics-listen` after traffic of every kind (rewrites, a denial after an
 *   existence check, an unreachable target, invalid and hostile images, a dry run, wrong tokens,
 *   malformed bodies, a body over the limit, a rules reload, a failed one, a certificate reload):
 *   its /metrics parsed by Prometheus' expfmt and linted by client_golang's promlint, asked plainly
 *   and as Prometheus asks (OpenMetrics first in Accept: the answer says its format, text 0.0.4);
 * - every log line of that serve, and of the Lambda handler (dist/handler.js run as Lambda runs it,
 *   its stdout and stderr) on as many kinds of events, decoded by Go's encoding/json/v2 (duplicate
 *   names, invalid UTF-8, lone surrogates, numbers) with each field of a message one JSON type across
 *   all lines (an index mapping takes the first type it sees);
 * - every EMF document of the handler validated with ajv against the specification's rules
 *   (tests/fixtures/emf/schema.json), and each dimension and metric it names checked to be a root
 *   member of the right type.
 */
import { spawn, spawnSync } from 'node:child_process';
import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Ajv } from 'ajv';
import { fixture, REPO_ROOT } from '../helpers/fixtures.js';
import { type FakeRegistry, startFakeRegistry } from '../helpers/fake-registry.js';
import { type Served, withServe } from '../helpers/serve-process.js';
import { createTestPki, httpsRequest, type TestPki } from '../helpers/tls.js';
import { eventually } from './helpers/processes.js';
import { distHandler, observabilityOracleBinary } from './helpers/tools.js';

const TOKEN = 'oracle-token-0123456789abcdef0123456789';
/** prom-client's default gauges whose names end in `_total`, which promlint flags: kept (README, "Metrics for Prometheus"). */
const PROM_CLIENT_TOTAL_GAUGES: readonly string[] = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'];

interface MetricsVerdict {
  readonly status: number;
  readonly format: string;
  readonly families: number;
  readonly parseError?: string;
  readonly problems: readonly { metric: string; text: string }[];
}

interface LogsVerdict {
  readonly lines: number;
  readonly problems: readonly { line: number; text: string }[];
  readonly types: Readonly<Record<string, Readonly<Record<string, readonly string[]>>>>;
}

function oracle(args: readonly string[], input?: string): unknown {
  const run = spawnSync(observabilityOracleBinary(), args, { input, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (run.status !== 0) throw new Error(`observability-oracle ${args.join(' ')}: exit ${String(run.status)}: ${run.stderr}`);
  return JSON.parse(run.stdout);
}

const metricsOf = (url: string, accept?: string): MetricsVerdict => oracle(['metrics', url, ...(accept === undefined ? [] : [accept])]) as MetricsVerdict;
const logsOf = (lines: string): LogsVerdict => oracle(['logs'], lines) as LogsVerdict;

/** The fields of a message that had more than one JSON type across the lines. */
function mixedTypes(verdict: LogsVerdict): string[] {
  return Object.entries(verdict.types).flatMap(([message, fields]) => Object.entries(fields).filter(([, types]) => types.length > 1).map(([field, types]) => `${message}: ${field}: ${types.join('|')}`));
}

const container = (image: unknown, name: unknown = 'app'): Record<string, unknown> => ({ name, image });

/** An AdmissionReview of a Pod with these containers, as JSON text. */
function review(uid: unknown, namespace: string, containers: readonly unknown[], extra: Record<string, unknown> = {}): string {
  const request = { uid, kind: { group: '', version: 'v1', kind: 'Pod' }, resource: { group: '', version: 'v1', resource: 'pods' }, namespace, operation: 'CREATE', userInfo: { username: 'u' }, object: { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web', namespace }, spec: { containers } }, ...extra };
  return JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request });
}

/** Reviews of every kind, hostile strings included (lone surrogates, line separators, bidi controls, long names). */
function bodies(): string[] {
  return [
    review('u1', 'shop', [container('gcr.io/nginx:1')]),
    review('u2', 'shop', [container('nginx'), container('quay.io/other', 'b')]),
    review('u3', 'shop', [container('quay.io/other')]),
    review('u4', 'shop', [container('UPPER/Case::x'), container('gcr.io/x@sha256:zz', 'b')]),
    review('u5', 'shop', [container('verify.example/present/app:1')]),
    review('u6', 'shop', [container('verify.example/absent/app:1')]),
    review('u7', 'shop', [container('unreachable.example/app:1')]),
    review('u8', 'shop', [container('gcr.io/dry')], { dryRun: true }),
    review('u9', 'kube-system', [container('gcr.io/ks')]),
    review('u10', 'ns\u2028x\ud800', [container('gcr.io/a\ud800b', 'a\ud800\n'), container('\udfff\u0000\u202e', 'c')]),
    review('u'.repeat(3000), 'shop', [container(`${'a'.repeat(511)}\ud83d\ude00`)]),
    review('u12', 'shop', Array.from({ length: 40 }, (_, i) => container(`gcr.io/img${String(i)}`, `c${String(i)}`))),
    review('u13\ud800', 'shop', [container('gcr.io/\ud83d\ude00'), container('gcr.io/é', 'b')]),
    review('u14', 'shop', [container(12, 'x'), container('gcr.io/n', { a: 1 }), { image: 'gcr.io/noname' }]),
    review(123, 'shop', [container('gcr.io/x')]),
    'not json',
    '{"apiVersion":"admission.k8s.io/v1"}',
    '[1]',
    '{"a":1e999}',
    '',
  ];
}

function rules(registry: string): string {
  return [
    'rules:',
    '  - name: gcr',
    '    match: gcr.io',
    '    replace: asia.gcr.io',
    '  - name: verified',
    '    match: verify.example',
    `    replace: ${registry}`,
    '    verify: true',
    '    onMissing: deny',
    '  - name: unreachable',
    '    match: unreachable.example',
    '    replace: 127.0.0.1:9/mirror',
    '    verify: true',
    '  - name: hub',
    '    match: docker.io/library',
    '    replace: mirror.example.com/library',
    '',
  ].join('\n');
}

let pki: TestPki;
let registry: FakeRegistry;
let scratch: string;
/** What the oracle made of serve's metrics and lines, and of the handler's lines. */
let served: { plain: MetricsVerdict; prometheus: MetricsVerdict; logs: LogsVerdict; lines: string };
let lambda: { logs: LogsVerdict; documents: Record<string, unknown>[] };

beforeAll(async () => {
  pki = await createTestPki();
  registry = await startFakeRegistry(pki, (req, res, url) => {
    if (url.pathname.includes('/present/') && url.pathname.includes('/manifests/')) {
      res.writeHead(200, { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json', 'Docker-Content-Digest': `sha256:${'a'.repeat(64)}`, 'Content-Length': '2' }).end(req.method === 'HEAD' ? undefined : '{}');
    } else res.writeHead(404, { 'Content-Type': 'application/json' }).end('{"errors":[{"code":"MANIFEST_UNKNOWN"}]}');
  });
  scratch = await mkdtemp(join(tmpdir(), 'observability-oracle-'));
}, 60_000);

afterAll(async () => {
  await registry.stop();
  await pki.remove();
  await rm(scratch, { recursive: true, force: true });
});

describe('serve --workers 2 --metrics-listen, after traffic of every kind', () => {
  beforeAll(async () => {
    const host = `127.0.0.1:${String(registry.port)}`;
    const config = join(scratch, 'rules.yaml');
    const cert = join(scratch, 'tls.crt');
    const key = join(scratch, 'tls.key');
    await writeFile(config, rules(host));
    await writeFile(join(scratch, 'token'), TOKEN);
    await copyFile(pki.server.certFile, cert);
    await copyFile(pki.server.keyFile, key);
    const args = ['--config', config, '--listen', '127.0.0.1:0', '--tls-cert-file', cert, '--tls-private-key-file', key, '--token-file', join(scratch, 'token'), '--workers', '2', '--metrics-listen', '127.0.0.1:0'];
    served = await withServe({ cli: join(REPO_ROOT, 'dist', 'cli.js'), args, env: { NODE_EXTRA_CA_CERTS: pki.caFile } }, async (s: Served) => {
      const port = await s.port;
      const metricsPort = Number((await s.first((l) => l['message'] === 'metrics listening'))['port']);
      const post = (body: string, path = `/mutate/${TOKEN}`, type = 'application/json'): Promise<unknown> => httpsRequest({ port, ca: pki.ca, method: 'POST', path, headers: { 'Content-Type': type }, body });
      const traffic = async (): Promise<void> => {
        for (const body of bodies()) await post(body);
        await post(review('w1', 'shop', []), '/mutate/wrong');
        await post('x', `/mutate/${TOKEN}`, 'text/plain');
        // Over --max-body-bytes: serve answers 413 from the announced length and closes, so a client
        // still sending the body may get EPIPE or ECONNRESET instead (it did under load); the 413's
        // line and count are what this traffic is for.
        await post(' '.repeat(7 * 1024 * 1024)).catch((e: unknown) => {
          if (!/EPIPE|ECONNRESET/.test(String(e))) throw e;
        });
        await httpsRequest({ port, ca: pki.ca, path: '/healthz' });
      };
      const count = (message: string): number => s.logs.filter((l) => l['message'] === message).length;
      const twice = (message: string, before: number): Promise<boolean> => eventually(`two more "${message}" lines`, 20_000, () => Promise.resolve(count(message) >= before + 2 ? true : undefined));
      await traffic();
      let before = count('rules loaded');
      await writeFile(config, rules(host).replace('name: hub', 'name: hub2'));
      await twice('rules loaded', before);
      before = count('rules document is invalid');
      await writeFile(config, 'rules:\n  - name: x\n    bogus: 1\n');
      await twice('rules document is invalid', before);
      before = count('certificate reloaded');
      const second = await pki.issue('second');
      await copyFile(second.keyFile, key);
      await copyFile(second.certFile, cert);
      await twice('certificate reloaded', before);
      await traffic();
      const url = `http://127.0.0.1:${String(metricsPort)}/metrics`;
      const plain = metricsOf(url);
      // Prometheus 3's default scrape_protocols, as its Accept header.
      const prometheus = metricsOf(url, 'application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2');
      await s.stop();
      const lines = s.stderr() + s.stdout();
      return { plain, prometheus, logs: logsOf(lines), lines };
    });
  }, 180_000);

  it.each([
    ['asked plainly', () => served.plain],
    ['asked as Prometheus 3 asks (OpenMetrics first)', () => served.prometheus],
  ])('answers /metrics, %s, in text 0.0.4 that expfmt parses and promlint passes', (_how, verdict) => {
    const v = verdict();
    // prom-client's own default gauges named like counters: kept, as Node.js dashboards read them by
    // these names (README, "Metrics for Prometheus"); any other problem fails.
    const ours = v.problems.filter((p) => !PROM_CLIENT_TOTAL_GAUGES.includes(p.metric));
    expect({ status: v.status, parseError: v.parseError, problems: ours }).toEqual({ status: 200, parseError: undefined, problems: [] });
    expect(v.problems.map((p) => p.metric).sort()).toEqual([...PROM_CLIENT_TOTAL_GAUGES]);
    expect(v.format).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(v.families).toBeGreaterThan(20);
  });

  it('writes log lines Go\'s encoding/json/v2 reads, every field of a message with one JSON type', () => {
    expect(served.logs.problems).toEqual([]);
    expect(served.logs.lines).toBeGreaterThan(100);
    expect(Object.keys(served.logs.types)).toEqual(expect.arrayContaining(['admission reviewed', 'request rejected', 'rules document is invalid', 'certificate reloaded', '(EMF)']));
    expect(mixedTypes(served.logs)).toEqual([]);
  });
});

describe('the Lambda handler (dist/handler.js) on events of every kind', () => {
  beforeAll(async () => {
    const host = `127.0.0.1:${String(registry.port)}`;
    const rest = (body: string, token = TOKEN, base64 = false): Record<string, unknown> => ({ resource: '/mutate/{token}', path: `/mutate/${token}`, httpMethod: 'POST', headers: { 'Content-Type': 'application/json' }, pathParameters: { token }, requestContext: { requestId: 'r' }, isBase64Encoded: base64, body: base64 ? Buffer.from(body).toString('base64') : body });
    const http = (body: string, token = TOKEN): Record<string, unknown> => ({ version: '2.0', routeKey: 'POST /mutate/{token}', rawPath: `/mutate/${token}`, headers: { 'content-type': 'application/json' }, pathParameters: { token }, requestContext: { http: { method: 'POST', path: `/mutate/${token}` }, requestId: 'r2' }, isBase64Encoded: false, body });
    const all = bodies();
    const events: unknown[] = [...all.map((b) => rest(b)), ...all.slice(0, 8).flatMap((b) => [rest(b, TOKEN, true), http(b)]), rest(all[0] ?? '', 'wrong'), http(all[0] ?? '', 'wrong'), { foo: 1 }, rest(all[0] ?? '', 'x'.repeat(5000))];
    const eventsFile = join(scratch, 'events.json');
    await writeFile(eventsFile, JSON.stringify(events));
    const script = [
      `const { handler } = await import(${JSON.stringify(distHandler())});`,
      `const events = JSON.parse(await (await import('node:fs/promises')).readFile(${JSON.stringify(eventsFile)}, 'utf8'));`,
      'let i = 0;',
      "for (const e of events) await handler(e, { awsRequestId: `req-${i++}`, functionName: 'f', invokedFunctionArn: 'arn:aws:lambda:us-west-2:123456789012:function:f', memoryLimitInMB: '256', getRemainingTimeInMillis: () => 10000 });",
    ].join('\n');
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { env: { ...process.env, REWRITE_RULES: rules(host), WEBHOOK_TOKEN: TOKEN, NODE_EXTRA_CA_CERTS: pki.caFile, AWS_REGION: 'us-west-2', POWERTOOLS_LOG_LEVEL: 'INFO' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => (err += d.toString('utf8')));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    if (code !== 0) throw new Error(`the handler's process exited ${String(code)}: ${err}`);
    const documents = out.split('\n').filter((l) => l.includes('"_aws"')).map((l) => JSON.parse(l) as Record<string, unknown>);
    lambda = { logs: logsOf(out + err), documents };
  }, 120_000);

  it('writes log lines Go\'s encoding/json/v2 reads, every field of a message with one JSON type', () => {
    expect(lambda.logs.problems).toEqual([]);
    expect(Object.keys(lambda.logs.types)).toEqual(expect.arrayContaining(['admission reviewed', 'request rejected', '(EMF)']));
    expect(mixedTypes(lambda.logs)).toEqual([]);
  });

  it('writes EMF documents the specification accepts: its schema, and every dimension and metric a root member of its type', () => {
    const validate = new Ajv({ allErrors: true }).compile(JSON.parse(fixture('emf/schema.json')) as object);
    expect(lambda.documents.length).toBeGreaterThan(30);
    const outcomes = new Set<unknown>();
    for (const doc of lambda.documents) {
      expect({ doc, errors: validate(doc) ? [] : validate.errors }).toEqual({ doc, errors: [] });
      const directives = (doc['_aws'] as { CloudWatchMetrics: { Dimensions: string[][]; Metrics: { Name: string }[] }[] }).CloudWatchMetrics;
      for (const d of directives) {
        for (const name of d.Dimensions.flat()) {
          const value = doc[name];
          // A dimension value: a string of 1 to 1,024 ASCII characters, not starting with ':' (CloudWatch's Dimension).
          expect({ name, value: typeof value === 'string' && /^[\x20-\x7e]{1,1024}$/.test(value) && !value.startsWith(':') ? 'ok' : value }).toEqual({ name, value: 'ok' });
        }
        for (const { Name } of d.Metrics) {
          const value = doc[Name];
          const numbers = Array.isArray(value) ? value : [value];
          expect({ Name, ok: numbers.length >= 1 && numbers.length <= 100 && numbers.every((n) => typeof n === 'number' && Number.isFinite(n)) }).toEqual({ Name, ok: true });
        }
      }
      outcomes.add(doc['Outcome']);
    }
    expect([...outcomes].sort()).toEqual(expect.arrayContaining(['bad_request', 'denied', 'dryrun', 'patched', 'unauthorized', 'unchanged']));
  });
});
