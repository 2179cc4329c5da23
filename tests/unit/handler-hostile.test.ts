/**
 * The Lambda handler against hostile bodies not covered row by row in handler.test.ts: deeply
 * nested JSON, bodies at and over the size limit, 10,000 containers, 1 MB image strings and names,
 * bytes that are not UTF-8, prototype-pollution keys, and null or wrong-typed values put at every
 * path of a real AdmissionReview. Each gets a bounded, clear answer (200, or 400 with a fixed
 * message, never 500), memory and log lines stay bounded, and the figures are printed.
 */
import { describe, expect, it } from '@jest/globals';
import fjp from 'fast-json-patch';
import type { Operation } from 'fast-json-patch';
import { fixedRules } from '../../src/config/sources.js';
import { BAD_REQUEST, MAX_WARNINGS, MAX_WARNINGS_LENGTH, WARNING_MAX_LENGTH } from '../../src/core/admission.js';
import { createHandler, DEFAULT_MAX_BODY_BYTES, MESSAGES, type WebhookResult } from '../../src/lambda/handler.js';
import { EXAMPLE_RULES } from '../../src/cli/invoke.js';
import { answerBody, answerPatch, answerResponse, captureObservability, EVENT_TOKEN, eventReview, type JsonObject, loadEvent, withBody } from '../helpers/events.js';
import { rewriterFrom } from '../helpers/rules.js';
import { podReview } from '../helpers/admission-review.js';

const rules = fixedRules(rewriterFrom(EXAMPLE_RULES), 'example');
const FIXED = new Set<string>([...Object.values(MESSAGES), ...Object.values(BAD_REQUEST)]);
/** No log line may be longer than this, whatever the request holds. */
const MAX_LOG_LINE = 16 * 1024;

function setup() {
  const obs = captureObservability();
  const invoke = createHandler({ rules, token: EVENT_TOKEN, logger: obs.logger, metrics: obs.metrics });
  return { obs, invoke };
}

const demo = (): JsonObject => loadEvent('rest-pod-v1.json');
const demoReview = (): JsonObject => eventReview(demo());
const isRecord = (v: unknown): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);

const patchOf = (result: WebhookResult): Operation[] => answerPatch(result) ?? [];

/** A review of a Pod with these containers (and a label holding `marker`). */
function pod(containers: unknown, extra: JsonObject = {}): JsonObject {
  return podReview({ metadata: { name: 'p', labels: { marker: 'LABEL-MARKER-77' } }, spec: { containers } }, { uid: 'hostile-uid', ...extra });
}

/** Status, answer and log checks every hostile request must pass. */
function bounded(result: WebhookResult, obs: ReturnType<typeof captureObservability>): void {
  expect([200, 400]).toContain(result.statusCode);
  expect(result.headers['Content-Type']).toBe('application/json');
  if (result.statusCode === 400) expect(FIXED.has(String(answerBody(result)['message']))).toBe(true);
  const longest = Math.max(0, ...obs.text().split('\n').map((l) => l.length));
  expect(longest).toBeLessThanOrEqual(MAX_LOG_LINE);
  expect(obs.text()).not.toContain('LABEL-MARKER-77');
  expect(obs.text()).not.toContain(EVENT_TOKEN);
}

const heapMb = (): number => process.memoryUsage().heapUsed / 2 ** 20;
/** The process's peak resident memory so far, MiB (grows only: the growth is this test's peak). */
const peakRssMb = (): number => process.resourceUsage().maxRSS / 1024;

describe('deeply nested JSON', () => {
  const nest = (n: number, open: string, close: string, inner: string): string => `${open.repeat(n)}${inner}${close.repeat(n)}`;

  it.each([
    { what: '100k levels of [[[...]]]', text: nest(100_000, '[', ']', ''), message: BAD_REQUEST.notObject },
    { what: '1M levels of [[[...]]]', text: nest(1_000_000, '[', ']', '1'), message: BAD_REQUEST.notObject },
    { what: '100k levels of {"a":{"a":...}}', text: nest(100_000, '{"a":', '}', '1'), message: BAD_REQUEST.apiVersion },
    { what: '100k levels, unclosed', text: '['.repeat(100_000), message: MESSAGES.notJson },
    { what: '100k levels, one bracket short', text: nest(100_000, '[', ']', '').slice(1), message: MESSAGES.notJson },
  ])('$what: 400 with a fixed message', async ({ text, message }) => {
    const { invoke, obs } = setup();
    const result = await invoke(withBody(demo(), text));
    expect(result.statusCode).toBe(400);
    expect(answerBody(result)).toEqual({ message });
    bounded(result, obs);
  });

  it.each([
    { what: 'in an image field', containers: `[{"name":"a","image":${nest(100_000, '[', ']', '')}},{"name":"b","image":"gcr.io/x"}]` },
    { what: 'as a container', containers: `[${nest(100_000, '{"a":', '}', '1')},{"name":"b","image":"gcr.io/x"}]` },
    { what: 'as the container list', containers: nest(100_000, '[', ']', '') },
  ])('100k levels $what: 200, never a RangeError', async ({ containers }) => {
    const { invoke, obs } = setup();
    // Written as text: JSON.stringify itself throws RangeError past ~10k levels.
    const text = JSON.stringify(pod('__CONTAINERS__')).replace('"__CONTAINERS__"', containers);
    const result = await invoke(withBody(demo(), text));
    expect(result.statusCode).toBe(200);
    bounded(result, obs);
  });

  it.each([
    { what: 'plain', event: () => withBody(demo(), `\ufeff${JSON.stringify(demoReview())}`) },
    { what: 'base64', event: () => ({ ...withBody(demo(), Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(JSON.stringify(demoReview()))]).toString('base64')), isBase64Encoded: true }) },
  ])('a byte order mark before a $what body is dropped and the review answered (a plain one was a 400)', async ({ event }) => {
    const { invoke } = setup();
    const result = await invoke(event());
    expect(result.statusCode).toBe(200);
  });

  it('in the original-images annotation: replaced, 200', async () => {
    const { invoke, obs } = setup();
    const review = pod([{ name: 'a', image: 'gcr.io/x' }]);
    const text = JSON.stringify(review).replace('"labels":', `"annotations":{"image-rewriter.io/original-images":${JSON.stringify(nest(200_000, '{"a":', '}', '1'))}},"labels":`);
    const result = await invoke(withBody(demo(), text));
    expect(result.statusCode).toBe(200);
    expect(patchOf(result).map((o) => o.path)).toContain('/metadata/annotations/image-rewriter.io~1original-images');
    bounded(result, obs);
  });
});

describe('huge bodies', () => {
  it('a valid review of exactly the limit is answered; one byte more is 400; memory stays bounded', async () => {
    const { invoke, obs } = setup();
    const review = pod([{ name: 'a', image: 'gcr.io/x' }]);
    const base = JSON.stringify(review).replace('"LABEL-MARKER-77"', '"LABEL-MARKER-77","pad":"__PAD__"');
    const text = base.replace('__PAD__', 'x'.repeat(DEFAULT_MAX_BODY_BYTES - base.length + '__PAD__'.length));
    expect(Buffer.byteLength(text)).toBe(DEFAULT_MAX_BODY_BYTES);
    const before = heapMb();
    const started = performance.now();
    const ok = await invoke(withBody(demo(), text));
    const ms = performance.now() - started;
    const grew = heapMb() - before;
    expect(ok.statusCode).toBe(200);
    const over = await invoke(withBody(demo(), `${text} `));
    expect(answerBody(over)).toEqual({ message: MESSAGES.tooLarge });
    const b64 = await invoke({ ...demo(), body: Buffer.from(`${text} `).toString('base64'), isBase64Encoded: true });
    expect(answerBody(b64)).toEqual({ message: MESSAGES.tooLarge });
    bounded(ok, obs);
    expect(grew).toBeLessThan(200); // sanity ceiling: a 6 MiB body is parsed once
    process.stdout.write(`6 MiB review: ${ms.toFixed(0)} ms, heap +${grew.toFixed(1)} MiB\n`);
  });

  it('a 100 MB body is refused by its length before anything is decoded', async () => {
    const { invoke, obs } = setup();
    const huge = 'x'.repeat(100 * 1024 * 1024);
    const result = await invoke({ ...demo(), body: huge });
    expect(answerBody(result)).toEqual({ message: MESSAGES.tooLarge });
    const b64 = await invoke({ ...demo(), body: huge, isBase64Encoded: true });
    expect(answerBody(b64)).toEqual({ message: MESSAGES.tooLarge });
    bounded(result, obs);
  });
});

describe('thousands of containers', () => {
  it('10,000 containers: every image rewritten, the patch applies, warnings capped; time and memory printed', async () => {
    const { invoke, obs } = setup();
    const containers = Array.from({ length: 10_000 }, (_, i) => ({ name: `c${i}`, image: i % 2 === 0 ? `gcr.io/app-${i}:1` : `nginx:${i}` }));
    const review = pod(containers);
    const before = heapMb();
    const peakBefore = peakRssMb();
    const started = performance.now();
    const result = await invoke(withBody(demo(), review));
    const ms = performance.now() - started;
    const grew = heapMb() - before;
    const peakGrew = peakRssMb() - peakBefore;
    expect(result.statusCode).toBe(200);
    const ops = patchOf(result);
    const object = (review['request'] as JsonObject)['object'];
    const patched = fjp.applyPatch(object, ops, true, false).newDocument as { spec: { containers: { image: string }[] } };
    expect(patched.spec.containers.filter((c) => c.image.startsWith('asia.gcr.io/') || c.image.startsWith('public.ecr.aws/'))).toHaveLength(10_000);
    const warnings = answerResponse(result)['warnings'] as string[];
    expect(warnings.length).toBeLessThanOrEqual(MAX_WARNINGS);
    // The originals of 10,000 containers would take the annotations past the API server's 256 KiB:
    // not recorded, so the last warning does not send the reader to the annotation.
    expect(ops.filter((o) => o.path.startsWith('/metadata'))).toEqual([]);
    expect(warnings.at(-1)).toBe(`image-rewriter: ${10_000 - warnings.length + 1} more warnings not shown`);
    for (const w of warnings) expect(w.length).toBeLessThanOrEqual(WARNING_MAX_LENGTH);
    expect(warnings.join('').length).toBeLessThanOrEqual(MAX_WARNINGS_LENGTH);
    const audit = (answerResponse(result)['auditAnnotations'] as Record<string, string>)['rewrites'] ?? '';
    expect(Buffer.byteLength(audit)).toBeLessThan(10 * 1024);
    bounded(result, obs);
    expect(grew).toBeLessThan(500);
    process.stdout.write(`10,000 containers: ${ms.toFixed(0)} ms, heap ${grew >= 0 ? '+' : ''}${grew.toFixed(1)} MiB after (GC may run), peak RSS +${peakGrew.toFixed(1)} MiB, ${ops.length} patch ops, ${result.body.length} bytes answered\n`);
  });
});

describe('very long strings', () => {
  const MB = 'a'.repeat(1024 * 1024);
  it.each([
    { what: 'a 1 MB image', containers: [{ name: 'a', image: `gcr.io/${MB}` }, { name: 'b', image: 'gcr.io/x' }] },
    { what: 'a 1 MB registry host', containers: [{ name: 'a', image: `${MB}.io/x` }, { name: 'b', image: 'gcr.io/x' }] },
    { what: 'a 1 MB tag', containers: [{ name: 'a', image: `gcr.io/x:${MB}` }, { name: 'b', image: 'gcr.io/x' }] },
    { what: 'a 1 MB container name, rewritten', containers: [{ name: MB, image: 'gcr.io/x' }] },
    { what: 'a 1 MB container name, invalid image', containers: [{ name: MB, image: 'Bad!' }] },
    { what: 'a 1 MB image of UTF-8', containers: [{ name: 'a', image: 'é'.repeat(500_000) }, { name: 'b', image: 'gcr.io/x' }] },
  ])('$what: 200, bounded warnings and log lines', async ({ containers }) => {
    const { invoke, obs } = setup();
    const result = await invoke(withBody(demo(), pod(containers)));
    expect(result.statusCode).toBe(200);
    for (const w of (answerResponse(result)['warnings'] as string[] | undefined) ?? []) expect(w.length).toBeLessThanOrEqual(WARNING_MAX_LENGTH);
    bounded(result, obs);
  });

  it.each([
    { what: 'uid', extra: { uid: `u${MB}` } },
    { what: 'name', extra: { name: `n${MB}` } },
    { what: 'namespace', extra: { namespace: `n${MB}` } },
  ])('a 1 MB request.$what: answered, and no log line is longer than 16 KiB', async ({ extra }) => {
    const { invoke, obs } = setup();
    const result = await invoke(withBody(demo(), pod([{ name: 'a', image: 'gcr.io/x' }, { name: 'b', image: 'Bad!' }, { name: 'c', image: 7 }], extra)));
    expect(result.statusCode).toBe(200);
    bounded(result, obs);
  });
});

describe('bytes that are not UTF-8', () => {
  it.each([
    { what: 'invalid UTF-8 (base64)', event: () => ({ ...demo(), body: Buffer.from([0x7b, 0xc3, 0x28, 0x7d]).toString('base64'), isBase64Encoded: true }), message: MESSAGES.notUtf8 },
    { what: 'overlong encoding of "/"', event: () => ({ ...demo(), body: Buffer.from([0x7b, 0xc0, 0xaf, 0x7d]).toString('base64'), isBase64Encoded: true }), message: MESSAGES.notUtf8 },
    { what: 'a UTF-16 body (base64)', event: () => ({ ...demo(), body: Buffer.from(JSON.stringify(demoReview()), 'utf16le').toString('base64'), isBase64Encoded: true }), message: MESSAGES.notJson },
    { what: 'NUL bytes', event: () => withBody(demo(), '\u0000\u0000{}'), message: MESSAGES.notJson },
    { what: 'Latin-1 bytes flagged base64', event: () => ({ ...demo(), body: Buffer.from('{"kind":"caf\xe9"}', 'latin1').toString('base64'), isBase64Encoded: true }), message: MESSAGES.notUtf8 },
  ])('$what: 400 $message', async ({ event, message }) => {
    const { invoke, obs } = setup();
    const result = await invoke(event());
    expect(answerBody(result)).toEqual({ message });
    bounded(result, obs);
  });

  it('a UTF-8 byte order mark before base64 JSON is dropped (as TextDecoder does) and the review answered', async () => {
    const { invoke, obs } = setup();
    const bom = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(JSON.stringify(demoReview()))]);
    const result = await invoke({ ...demo(), body: bom.toString('base64'), isBase64Encoded: true });
    expect(result.statusCode).toBe(200);
    bounded(result, obs);
  });

  it('lone surrogates in a body that is a string (not base64) are answered, and the patch is valid JSON', async () => {
    const { invoke, obs } = setup();
    const result = await invoke(withBody(demo(), pod([{ name: 'x\ud800y', image: 'gcr.io/x' }, { name: 'z', image: '\udc00bad' }])));
    expect(result.statusCode).toBe(200);
    expect(patchOf(result).length).toBeGreaterThan(0);
    bounded(result, obs);
  });
});

describe('prototype-pollution keys', () => {
  const rows: { what: string; text: () => string; status: number }[] = [
    { what: 'the whole review under __proto__', text: () => `{"__proto__":${JSON.stringify(demoReview())}}`, status: 400 },
    { what: 'request under __proto__', text: () => JSON.stringify(demoReview()).replace('"request":', '"__proto__":'), status: 400 },
    { what: 'object under __proto__', text: () => JSON.stringify(demoReview()).replace('"object":', '"__proto__":'), status: 200 },
    { what: 'spec under __proto__', text: () => JSON.stringify(demoReview()).replace('"spec":', '"__proto__":'), status: 200 },
    { what: 'containers under constructor', text: () => JSON.stringify(demoReview()).replace('"containers":', '"constructor":'), status: 200 },
    { what: '__proto__ in every object', text: () => JSON.stringify(demoReview()).replace(/\{"/g, '{"__proto__":{"polluted":true,"image":"gcr.io/evil"},"'), status: 200 },
    { what: 'constructor.prototype in every object', text: () => JSON.stringify(demoReview()).replace(/\{"/g, '{"constructor":{"prototype":{"polluted":true}},"'), status: 200 },
    { what: 'a container named __proto__', text: () => JSON.stringify(pod([{ name: '__proto__', image: 'gcr.io/x' }])), status: 200 },
    { what: 'annotations with __proto__', text: () => JSON.stringify(pod([{ name: 'a', image: 'gcr.io/x' }])).replace('"labels":', '"annotations":{"__proto__":{"image-rewriter.io/skip":"true"},"image-rewriter.io/original-images":"{\\"__proto__\\":{\\"polluted\\":1}}"},"labels":'), status: 200 },
  ];

  it.each(rows)('$what: $status, and Object.prototype is untouched', async ({ text, status }) => {
    const { invoke, obs } = setup();
    const names = Object.getOwnPropertyNames(Object.prototype).sort();
    const result = await invoke(withBody(demo(), text()));
    expect(result.statusCode).toBe(status);
    expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(names);
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
    expect(({} as Record<string, unknown>)['image']).toBeUndefined();
    bounded(result, obs);
    if (status === 200) {
      const review = JSON.parse(text()) as JsonObject;
      const object = Object.hasOwn(review, 'request') ? (review['request'] as JsonObject)['object'] : undefined;
      if (object !== undefined) fjp.applyPatch(object, patchOf(result), true, false);
    }
  });
});

describe('null and wrong-typed values at every path of a real review', () => {
  /** Every path of the demo review (objects and arrays), as lists of keys. */
  function paths(v: unknown, at: (string | number)[] = []): (string | number)[][] {
    const out: (string | number)[][] = at.length === 0 ? [] : [at];
    if (Array.isArray(v)) v.forEach((x, i) => out.push(...paths(x, [...at, i])));
    else if (isRecord(v)) for (const [k, x] of Object.entries(v)) out.push(...paths(x, [...at, k]));
    return out;
  }
  const review = demoReview();
  const values: unknown[] = [null, 0, -1.5, true, '', 'x', [], {}, [null], { __proto__: null }];
  const cases = paths(review).flatMap((path) => values.map((value) => ({ path: path.join('.'), keys: path, value })));

  it(`answers all ${cases.length} variants with 200 or a fixed 400, never 500`, async () => {
    const { invoke, obs } = setup();
    const counts: Record<number, number> = {};
    for (const { keys, value } of cases) {
      const copy = JSON.parse(JSON.stringify(review)) as JsonObject;
      let parent: unknown = copy;
      for (const k of keys.slice(0, -1)) parent = (parent as Record<string | number, unknown>)[k];
      (parent as Record<string | number, unknown>)[keys[keys.length - 1] ?? 0] = value;
      const result = await invoke(withBody(demo(), copy));
      counts[result.statusCode] = (counts[result.statusCode] ?? 0) + 1;
      expect([200, 400]).toContain(result.statusCode);
      if (result.statusCode === 400) expect(FIXED.has(String(answerBody(result)['message']))).toBe(true);
      else fjp.applyPatch((copy['request'] as JsonObject)['object'], patchOf(result), true, false);
    }
    expect(obs.text()).not.toContain(EVENT_TOKEN);
    process.stdout.write(`wrong-typed values: ${cases.length} variants, answers ${JSON.stringify(counts)}\n`);
  });
});

describe('hostile strings in the event itself', () => {
  // A hand-made event (`aws lambda invoke`, a console test event) can carry anything where API
  // Gateway puts the caller's address: the 401 line logs it, bounded like every string it did not make.
  const MB = '1'.repeat(1024 * 1024);
  it.each([
    { what: 'REST requestContext.identity.sourceIp', event: (): JsonObject => ({ ...demo(), path: '/mutate/wrong', pathParameters: { token: 'wrong' }, requestContext: { identity: { sourceIp: MB } } }) },
    { what: 'HTTP API requestContext.http.sourceIp', event: (): JsonObject => ({ ...loadEvent('httpapi-pod-v1.json'), rawPath: '/mutate/wrong', pathParameters: { token: 'wrong' }, requestContext: { http: { method: 'POST', path: '/mutate/wrong', sourceIp: MB } } }) },
  ])('a 1 MB $what: 401, and its log line stays within 16 KiB', async ({ event }) => {
    const { invoke, obs } = setup();
    const result = await invoke(event());
    expect(result.statusCode).toBe(401);
    const rejected = obs.logs().find((l) => l['message'] === 'request rejected');
    expect(rejected).toMatchObject({ status: 401, sourceIp: expect.stringMatching(/^1+\.\.\.$/) });
    expect(Math.max(...obs.text().split('\n').map((l) => l.length))).toBeLessThanOrEqual(MAX_LOG_LINE);
  });
});
