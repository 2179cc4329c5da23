/**
 * Differential test of the adapters: generated rules documents (fixed seed) and generated objects
 * (Pods with init, sidecar and ephemeral containers and image volumes, Deployments, CronJobs;
 * digests, ports, Docker Hub short names, invalid and uppercase references, long names; opt-out
 * labels) go through every adapter, which must agree (docs/design.md, "Rewrite semantics"):
 *
 * - lambda: src/lambda/main.ts imported afresh with the document in REWRITE_RULES;
 * - serve: `runServe` with the document as its --config file, each review POSTed over HTTPS;
 * - invoke: `image-rewriter invoke` on each review's event file;
 * - render: the objects as one JSON List and as multi-document YAML, `--annotate`: each rendered
 *   object equals the Lambda's patch applied to it;
 * - explain: each image of each object not opted out, in its namespace: `rewritten` is the image
 *   the Lambda's patch leaves there;
 * - check-config: accepts every generated document.
 *
 * Then the document's forms: the same rules as JSON and as YAML (comments, an anchor, CRLF, a byte
 * order mark), inline and as a file, give the same explain output; a document one form refuses,
 * every form refuses with the same problems.
 */
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments, stringify } from 'yaml';
import type { TestPki } from '../helpers/tls.js';

const lambdaWritten: string[] = [];
jest.unstable_mockModule('../../src/observability/stdio-write.js', () => ({ descriptorWrite: () => (text: string) => void lambdaWritten.push(text), stdioWriteFor: () => undefined }));
const { main } = await import('../../src/cli/main.js');
const { startServeCli } = await import('../helpers/serve-cli.js');
const { EVENT_TOKEN, loadEvent } = await import('../helpers/events.js');
const { captureIo } = await import('../helpers/io.js');
const { createTestPki, httpsRequest } = await import('../helpers/tls.js');

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = Record<string, Json>;
interface Op {
  readonly op: string;
  readonly path: string;
  readonly value?: Json;
}
/** What an adapter made of one review: the object after its patch, and whether it was allowed. */
interface Verdict {
  readonly allowed: boolean;
  readonly object: Json;
  readonly warnings: readonly string[];
}

/** A linear congruential generator: the same documents and objects on every run. */
function prng(seed: number): () => number {
  let s = seed;
  return () => {
    s = (s * 1103515245 + 12345) & 0x7fffffff;
    return s / 0x7fffffff;
  };
}
const random = prng(20261205);
const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)] as T;
const some = <T>(list: readonly T[], p: number): T[] => list.filter(() => random() < p);

const RULE_POOL: readonly JsonObject[] = [
  { match: 'gcr.io', replace: 'asia.gcr.io' },
  { match: 'docker.io', replace: 'mirror.example.com/hub' },
  { match: 'docker.io/library', replace: 'mirror.example.com/lib' },
  { match: 'localhost:5000', replace: 'registry.internal:5000/dev' },
  { match: 'quay.io/coreos', replace: 'm.example.com/q' },
  { match: 'ghcr.io', replace: 'ghcr.io' },
  { match: 'registry:5000/team', replace: 'reg.example.com:8443/t' },
  { regex: 'quay\\.io/(?<org>[a-z0-9_.-]+)/(?<repo>.+)', replace: 'mirror.example.com/quay-$<org>/$<repo>' },
  { regex: '([a-z]+)\\.gcr\\.io/(.+)', replace: 'gcr-mirror.example.com/$1/$2' },
  { regex: 'registry\\.k8s\\.io/(.+)', replace: 'k8s.example.com/$1' },
  { regex: 'docker\\.io/([a-z]+)/(.*)', replace: 'hub.example.com/$1-x/$2' },
];
const EXCLUDES = ['docker.io/library/busybox', 'gcr.io/distroless', 'quay.io', 'localhost:5000/keep'];
const SHA = (c: string): string => `sha256:${c.repeat(64)}`;
const IMAGES = [
  'nginx', 'nginx:1.27', 'docker.io/nginx', 'index.docker.io/library/nginx:1', 'registry-1.docker.io/bitnami/redis:7.2', 'registry.hub.docker.com/library/nginx:1', 'Registry.Hub.Docker.com/nginx', 'bitnami/redis',
  'library/nginx', 'busybox:1.36', 'busyboxplus', 'gcr.io/nginx', 'gcr.io/distroless/static:nonroot', 'GCR.IO/app:1', 'Gcr.Io:443/a/b:1',
  'gcr.io:443/app', 'gcr.io:5000/app', `eu.gcr.io/proj/app@${SHA('a')}`, `gcr.io/proj/app:1.2@${SHA('b')}`, `nginx@${SHA('d')}`,
  'localhost:5000/app', `localhost:5000/a:1@${SHA('c')}`, 'localhost:5000/keep/x:1', 'localhost/app', 'registry:5000/team/app',
  'quay.io/coreos/etcd:v3.5.0', 'quay.io:443/coreos/etcd', 'quay.io/prometheus/node-exporter', 'registry.k8s.io/pause:3.9',
  'Registry.K8s.io/pause:3.9', 'ghcr.io/org/tool', 'ghcr.io:5000/x', '127.0.0.1:5000/a', '[::1]:5000/a', 'NGINX', 'nginx ',
  'gcr.io/a@sha256:bad', 'gcr.io/Upper/app', '', `gcr.io/${'x'.repeat(300)}`, `gcr.io/${'y/'.repeat(200)}z`, `docker.io/library/${'n'.repeat(240)}`,
  `${'a'.repeat(256)}.com/x`, `gcr.io/a:${'t'.repeat(129)}`, 'gcr.io.evil.example/x', 'k8s.gcr.io/pause', 'asia.gcr.io/nginx', 'foo.gcr.io/a/b',
  'mirror.example.com/hub/library/nginx',
];
const NAMESPACES = ['default', 'team-a', 'abc', 'kube-system', 'prod'];
const SKIP = 'image-rewriter.io/skip';

function rulesDocument(): JsonObject {
  const rules = some(RULE_POOL, 0.4)
    .slice(0, 5)
    .map((r, i): JsonObject => {
      const rule: JsonObject = { name: `r${String(i)}`, ...r };
      if (random() < 0.2) rule['imagePullSecrets'] = ['pull-a'];
      if (random() < 0.15) rule['namespaces'] = pick([['team-*'], ['default'], ['a?c']]);
      if (random() < 0.1) rule['excludeNamespaces'] = ['kube-*'];
      if (random() < 0.1) rule['verify'] = false;
      return rule;
    });
  const document: JsonObject = { rules };
  const exclude = random() < 0.4 ? some(EXCLUDES, 0.5) : [];
  if (exclude.length > 0) document['exclude'] = exclude;
  if (random() < 0.3) document['allowOptOut'] = random() < 0.5;
  return document;
}

let serial = 0;
const container = (prefix: string): JsonObject => ({ name: `${prefix}${String(serial++)}`, image: pick(IMAGES) });
function podSpec(): JsonObject {
  const spec: JsonObject = { containers: [container('c'), ...(random() < 0.4 ? [container('c')] : [])] };
  const init: JsonObject[] = random() < 0.4 ? [container('i')] : [];
  if (random() < 0.2) init.push({ ...container('s'), restartPolicy: 'Always' });
  if (init.length > 0) spec['initContainers'] = init;
  if (random() < 0.2) spec['ephemeralContainers'] = [container('e')];
  if (random() < 0.15) spec['volumes'] = [{ name: `v${String(serial++)}`, image: { reference: pick(IMAGES) } }];
  if (random() < 0.15) spec['imagePullSecrets'] = [{ name: 'existing' }];
  return spec;
}
function metadata(namespace: string): JsonObject {
  const m: JsonObject = { name: `o${String(serial++)}`, namespace };
  if (random() < 0.15) m['labels'] = { [SKIP]: 'true' };
  if (random() < 0.1) m['annotations'] = { 'image-rewriter.io/original-images': pick(['x', '{}', '{"containers/c1":"gcr.io/old"}']) };
  return m;
}
function object(): JsonObject {
  const namespace = pick(NAMESPACES);
  const kind = pick(['Pod', 'Pod', 'Deployment', 'CronJob']);
  if (kind === 'Pod') return { apiVersion: 'v1', kind, metadata: metadata(namespace), spec: podSpec() };
  if (kind === 'Deployment') {
    const labels: JsonObject = random() < 0.15 ? { a: 'b', [SKIP]: 'true' } : { a: 'b' };
    return { apiVersion: 'apps/v1', kind, metadata: metadata(namespace), spec: { selector: { matchLabels: { a: 'b' } }, template: { metadata: { labels }, spec: podSpec() } } };
  }
  return { apiVersion: 'batch/v1', kind, metadata: metadata(namespace), spec: { schedule: '* * * * *', jobTemplate: { spec: { template: { spec: podSpec() } } } } };
}

const RESOURCES: Readonly<Record<string, readonly [string, string]>> = { Pod: ['', 'pods'], Deployment: ['apps', 'deployments'], CronJob: ['batch', 'cronjobs'] };
const str = (v: Json | undefined): string => (typeof v === 'string' ? v : '');
const obj = (v: Json | undefined): JsonObject => (typeof v === 'object' && v !== null && !Array.isArray(v) ? v : {});
const list = (v: Json | undefined): Json[] => (Array.isArray(v) ? v : []);

function reviewOf(o: JsonObject, uid: number): string {
  const kind = str(o['kind']);
  const [group, resource] = RESOURCES[kind] ?? ['', ''];
  const request = { uid: `uid-${String(uid)}`, kind: { group, version: 'v1', kind }, resource: { group, version: 'v1', resource }, namespace: str(obj(o['metadata'])['namespace']), operation: 'CREATE', userInfo: { username: 'u' }, object: o, oldObject: null, dryRun: false };
  return JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request });
}
const eventOf = (body: string): Record<string, unknown> => ({ ...loadEvent('rest-pod-v1.json'), body, isBase64Encoded: false });

/** RFC 6902 add, replace and remove: all a review's patch uses. */
function applyPatch(document: Json, ops: readonly Op[]): Json {
  const out = structuredClone(document);
  for (const op of ops) {
    const parts = op.path.split('/').slice(1).map((s) => s.replaceAll('~1', '/').replaceAll('~0', '~'));
    const last = parts.pop() ?? '';
    let target: Json = out;
    for (const p of parts) target = Array.isArray(target) ? (target[Number(p)] ?? null) : obj(target)[p] ?? null;
    if (Array.isArray(target)) {
      if (op.op === 'remove') target.splice(Number(last), 1);
      else if (last === '-') target.push(op.value ?? null);
      else if (op.op === 'add') target.splice(Number(last), 0, op.value ?? null);
      else target[Number(last)] = op.value ?? null;
    } else if (typeof target === 'object' && target !== null) {
      if (op.op === 'remove') Reflect.deleteProperty(target, last);
      else target[last] = op.value ?? null;
    }
  }
  return out;
}

function verdictOf(review: Json, o: JsonObject): Verdict {
  const response = obj(obj(review)['response']);
  const patch = str(response['patch']);
  const ops = patch === '' ? [] : (JSON.parse(Buffer.from(patch, 'base64').toString('utf8')) as Op[]);
  return { allowed: response['allowed'] === true, object: applyPatch(o, ops), warnings: list(response['warnings']).map(str) };
}

/** The images of an object: `<list>/<name>` to the image. */
function imagesOf(o: Json): [string, string][] {
  const spec = obj(o);
  const kind = str(spec['kind']);
  const s = obj(spec['spec']);
  const pod = kind === 'Pod' ? s : kind === 'Deployment' ? obj(obj(s['template'])['spec']) : obj(obj(obj(obj(s['jobTemplate'])['spec'])['template'])['spec']);
  const out: [string, string][] = [];
  for (const field of ['containers', 'initContainers', 'ephemeralContainers']) for (const c of list(pod[field])) out.push([`${field}/${str(obj(c)['name'])}`, str(obj(c)['image'])]);
  for (const v of list(pod['volumes'])) out.push([`volumes/${str(obj(v)['name'])}`, str(obj(obj(v)['image'])['reference'])]);
  return out;
}
function optedOut(o: JsonObject, document: JsonObject): boolean {
  if (document['allowOptOut'] === false) return false;
  const m = obj(o['metadata']);
  const template = obj(obj(obj(o['spec'])['template'])['metadata']);
  return [obj(m['labels']), obj(m['annotations']), obj(template['labels'])].some((x) => x[SKIP] === 'true');
}

/** What the generated cases exercised, checked last: a harness whose adapters all rewrite nothing would agree too. */
const seen = { rewritten: 0, invalid: 0, optedOut: 0, secrets: 0 };

const DOCUMENTS = 6;
const OBJECTS = 10;
const CASES = Array.from({ length: DOCUMENTS }, (_, d) => ({ d, document: rulesDocument(), objects: Array.from({ length: OBJECTS }, object) }));

let pki: TestPki;
let dir: string;
beforeAll(async () => {
  pki = await createTestPki('adapters-differential-');
  dir = await mkdtemp(join(tmpdir(), 'adapters-differential-'));
});
afterAll(async () => {
  await pki.remove();
  await rm(dir, { recursive: true, force: true });
});

async function lambdaVerdicts(text: string, bodies: readonly string[], objects: readonly JsonObject[]): Promise<Verdict[]> {
  const saved = { ...process.env };
  Object.assign(process.env, { REWRITE_RULES: text, WEBHOOK_TOKEN: EVENT_TOKEN, POWERTOOLS_LOG_LEVEL: 'ERROR' });
  Reflect.deleteProperty(process.env, 'REWRITE_RULES_PARAMETER');
  try {
    jest.resetModules();
    const { handler } = await import('../../src/lambda/main.js');
    const out: Verdict[] = [];
    for (const [i, body] of bodies.entries()) {
      const result = await handler(eventOf(body));
      expect(result.statusCode).toBe(200);
      out.push(verdictOf(JSON.parse(result.body) as Json, objects[i] ?? {}));
    }
    return out;
  } finally {
    process.env = saved;
  }
}

async function serveVerdicts(config: string, bodies: readonly string[], objects: readonly JsonObject[]): Promise<Verdict[]> {
  const io = captureIo({ WEBHOOK_TOKEN: EVENT_TOKEN, POWERTOOLS_LOG_LEVEL: 'ERROR' });
  const serve = await startServeCli(['--config', config, '--listen', '127.0.0.1:0', '--tls-cert-file', pki.server.certFile, '--tls-private-key-file', pki.server.keyFile], io);
  const first = serve.port;
  if (first === undefined) throw new Error(`serve did not start: ${io.err()}`);
  try {
    const out: Verdict[] = [];
    for (const [i, body] of bodies.entries()) {
      const answer = await httpsRequest({ port: first, ca: pki.ca, method: 'POST', path: `/mutate/${EVENT_TOKEN}`, body, headers: { 'content-type': 'application/json' } });
      expect(answer.status).toBe(200);
      out.push(verdictOf(JSON.parse(answer.body) as Json, objects[i] ?? {}));
    }
    return out;
  } finally {
    await serve.stop();
  }
}

describe('every adapter gives the same verdict on the same rules and object', () => {
  it.each(CASES)('rules document $d', async ({ d, document, objects }) => {
    const text = JSON.stringify(document, null, 2);
    const config = join(dir, `rules-${String(d)}.json`);
    await writeFile(config, text);
    const bodies = objects.map((o, i) => reviewOf(o, i));

    const check = captureIo({ REWRITE_RULES: text });
    expect({ code: await main(['check-config'], check), err: check.err() }).toEqual({ code: 0, err: expect.any(String) });

    const lambda = await lambdaVerdicts(text, bodies, objects);
    for (const [i, v] of lambda.entries()) {
      if (JSON.stringify(imagesOf(v.object)) !== JSON.stringify(imagesOf(objects[i] ?? null))) seen.rewritten += 1;
      if (v.warnings.some((w) => w.includes('is not a valid reference'))) seen.invalid += 1;
      if (optedOut(objects[i] ?? {}, document)) seen.optedOut += 1;
      if (JSON.stringify(v.object).includes('pull-a')) seen.secrets += 1;
    }
    expect(await serveVerdicts(config, bodies, objects)).toEqual(lambda);

    for (const [i, body] of bodies.entries()) {
      const file = join(dir, `event-${String(d)}-${String(i)}.json`);
      await writeFile(file, JSON.stringify(eventOf(body)));
      const io = captureIo({ REWRITE_RULES: text });
      expect(await main(['invoke', '--quiet', file], io)).toBe(0);
      const printed = JSON.parse(io.out()) as { statusCode: number; body: Json };
      expect(verdictOf(printed.body, objects[i] ?? {})).toEqual(lambda[i]);
    }

    const asList = captureIo({}, JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects }, null, 2));
    expect(await main(['render', '--config', config, '--annotate'], asList)).toBe(0);
    expect(list(obj(JSON.parse(asList.out()) as Json)['items'])).toEqual(lambda.map((v) => v.object));
    const asYaml = captureIo({}, objects.map((o) => stringify(o)).join('---\n'));
    expect(await main(['render', '--config', config, '--annotate'], asYaml)).toBe(0);
    expect(parseAllDocuments(asYaml.out()).map((doc) => doc.toJS() as Json)).toEqual(lambda.map((v) => v.object));

    for (const [i, o] of objects.entries()) {
      if (optedOut(o, document)) continue;
      const images = imagesOf(o);
      const io = captureIo({ REWRITE_RULES: text });
      expect(await main(['explain', '--namespace', str(obj(o['metadata'])['namespace']), '--', ...images.map(([, image]) => image)], io)).toBe(0);
      const explained = io.out().trimEnd().split('\n').map((line) => str((JSON.parse(line) as JsonObject)['rewritten']));
      expect(explained).toEqual(imagesOf(lambda[i]?.object ?? null).map(([, image]) => image));
    }
  });
});

describe('the generated cases', () => {
  it('rewrote images, met invalid ones, opt-outs and pull secrets', () => {
    expect(seen.rewritten).toBeGreaterThan(10);
    expect(seen.invalid).toBeGreaterThan(5);
    expect(seen.optedOut).toBeGreaterThan(2);
    expect(seen.secrets).toBeGreaterThan(0);
  });
});

/** The rules of each form, as YAML, with the reader's quirks a user may write. */
const YAML_RULES = '# mirrors\r\nrules:\r\n  - name: gcr # the demo\r\n    match: gcr.io\r\n    replace: &target asia.gcr.io\r\n  - name: k8s\r\n    match: k8s.gcr.io\r\n    replace: "asia.gcr.io/google-containers"\r\nexclude: [gcr.io/distroless]\r\n';
const JSON_RULES = '{"rules": [{"name": "gcr", "match": "gcr.io", "replace": "asia.gcr.io"}, {"name": "k8s", "match": "k8s.gcr.io", "replace": "asia.gcr.io/google-containers"}], "exclude": ["gcr.io/distroless"]}';
const FORMS: Readonly<Record<string, string>> = {
  json: JSON_RULES,
  'json with a byte order mark and CRLF': `\uFEFF${JSON_RULES.replaceAll(', ', ',\r\n')}\r\n`,
  yaml: YAML_RULES,
  'yaml with a byte order mark': `\uFEFF${YAML_RULES.replaceAll('\r\n', '\n')}`,
  'yaml flow': `{rules: [{name: gcr, match: gcr.io, replace: asia.gcr.io}, {name: k8s, match: k8s.gcr.io, replace: asia.gcr.io/google-containers}], exclude: [gcr.io/distroless]}`,
};
const REFUSED: Readonly<Record<string, string>> = {
  'a duplicate key (json)': '{"rules": [{"name": "gcr", "match": "gcr.io", "replace": "asia.gcr.io", "match": "k8s.gcr.io"}]}',
  'a duplicate key (yaml)': 'rules:\n  - name: gcr\n    match: gcr.io\n    replace: asia.gcr.io\n    match: k8s.gcr.io\n',
  'null for a list': 'rules:\nexclude: ~\n',
  'a number for a string': '{"rules": [{"name": 7, "match": "gcr.io", "replace": "asia.gcr.io"}]}',
  'a string for a boolean': 'rules: []\nallowOptOut: "false"\n',
  'an unknown key': '{"rules": [], "exlude": []}',
  'a merge key': 'rules:\n  - <<: {match: gcr.io, replace: asia.gcr.io}\n    name: gcr\n',
};
const PROBE = ['gcr.io/nginx', 'k8s.gcr.io/pause:3.9', 'gcr.io/distroless/static', 'nginx'];

describe('the forms of a rules document read alike in every adapter', () => {
  it.each(Object.entries(FORMS))('%s', async (name, text) => {
    const file = join(dir, `form-${name.replaceAll(' ', '-')}`);
    await writeFile(file, text);
    const inline = captureIo({ REWRITE_RULES: text });
    const fromFile = captureIo({});
    expect(await main(['explain', ...PROBE], inline)).toBe(0);
    expect(await main(['explain', '--config', file, ...PROBE], fromFile)).toBe(0);
    expect(fromFile.out()).toBe(inline.out());
    expect(inline.out().split('\n').slice(0, 2).map((l) => l.length > 0 && (JSON.parse(l) as JsonObject)['rewritten'])).toEqual(['asia.gcr.io/nginx', 'asia.gcr.io/google-containers/pause:3.9']);
    const [event] = await lambdaVerdicts(text, [reviewOf({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'default' }, spec: { containers: [{ name: 'a', image: 'gcr.io/nginx' }] } }, 0)], [{}]);
    expect(event?.warnings).toEqual(['image-rewriter: rewrote containers[a] gcr.io/nginx -> asia.gcr.io/nginx (rule gcr)']);
  });

  it.each(Object.entries(REFUSED))('%s is refused alike', async (name, text) => {
    const file = join(dir, `refused-${name.replaceAll(' ', '-')}`);
    await writeFile(file, text);
    const inline = captureIo({ REWRITE_RULES: text });
    const fromFile = captureIo({});
    expect(await main(['check-config'], inline)).toBe(2);
    expect(await main(['check-config', '--config', file], fromFile)).toBe(2);
    expect(fromFile.err().replaceAll(file, 'REWRITE_RULES')).toBe(inline.err());
    const [answer] = await lambdaVerdicts(text, [reviewOf({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'default' }, spec: { containers: [{ name: 'a', image: 'gcr.io/nginx' }] } }, 0)], [{}]);
    expect(answer?.warnings.join('')).toContain('rules document REWRITE_RULES is invalid');
  });

  it('a name where the document belongs is said to be one, in every adapter', async () => {
    // REWRITE_RULES set to what REWRITE_RULES_PARAMETER (or --config) takes: YAML reads it as one string.
    const text = '/image-rewriter/rules';
    const file = join(dir, 'a-name');
    await writeFile(file, `${text}\n`);
    const inline = captureIo({ REWRITE_RULES: text });
    const fromFile = captureIo({});
    expect(await main(['check-config'], inline)).toBe(2);
    expect(await main(['check-config', '--config', file], fromFile)).toBe(2);
    const hint = 'a file or parameter name? The document must hold the rules themselves';
    expect(inline.err()).toContain(hint);
    expect(fromFile.err()).toContain(hint);
    // The text itself is never echoed: a value put in the wrong variable may be a secret.
    expect(inline.err()).not.toContain(text);
    lambdaWritten.length = 0;
    await lambdaVerdicts(text, [reviewOf({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'default' }, spec: { containers: [{ name: 'a', image: 'gcr.io/nginx' }] } }, 0)], [{}]);
    expect(lambdaWritten.join('')).toContain(hint);
  });
});
