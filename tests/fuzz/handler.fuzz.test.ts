/**
 * Fuzz target "handler": the whole Lambda path (`createHandler`, real rules, captured logs) on
 * arbitrary API Gateway REST, HTTP API (payload 2.0) and Function URL events, with fields of the
 * wrong type, right and wrong tokens, and arbitrary bodies: text, JSON, AdmissionReviews, base64 of
 * arbitrary bytes (not UTF-8 included), deeply nested JSON.
 *
 * The promise always resolves (no unhandled exception, never 500 with a working rules provider);
 * the status is one of 200, 400, 401, 405, 503; the body is JSON; a 4xx body is one fixed message;
 * neither the token nor the request body appears in a non-200 answer or in any log line.
 */
import { describe, expect } from '@jest/globals';
import fc from 'fast-check';
import { fixedRules } from '../../src/config/sources.js';
import { BAD_REQUEST } from '../../src/core/admission.js';
import { createHandler, MESSAGES } from '../../src/lambda/handler.js';
import { EXAMPLE_RULES } from '../../src/cli/invoke.js';
import { createObservability } from '../../src/observability/telemetry.js';
import { loadEvent, type JsonObject } from '../helpers/events.js';
import { rewriterFrom } from '../helpers/rules.js';
import { format, reference } from '../helpers/arbitraries.js';
import { fuzzTarget } from './budget.js';

const TOKEN = 'fuzz-token-9f3c2a71d0b84e6f';
const MARKER = 'BODY-MARKER-q7x';
const FIXED = new Set<string>([...Object.values(MESSAGES), ...Object.values(BAD_REQUEST)]);
const STATUSES = new Set([200, 400, 401, 405, 503]);

/** This case's log lines and EMF documents (cleared per case: the long run makes millions). */
const lines: string[] = [];
const obs = createObservability({
  logLevel: 'INFO',
  sink: (line) => {
    lines.push(line);
  },
});
const handler = createHandler({ rules: fixedRules(rewriterFrom(EXAMPLE_RULES), 'example'), token: TOKEN, logger: obs.logger, metrics: obs.metrics, maxBodyBytes: 256 * 1024 });

const TEMPLATES = ['rest-pod-v1.json', 'httpapi-pod-v1.json', 'function-url-pod-v1.json', 'rest-healthz.json'].map((n) => loadEvent(n));

/** An AdmissionReview body that carries the marker (in a label, never logged or answered). */
const admission = fc
  .record({
    images: fc.array(fc.oneof(reference.map(format), fc.constantFrom('gcr.io/nginx', 'nginx', 'Bad!')), { maxLength: 4 }),
    apiVersion: fc.constantFrom('admission.k8s.io/v1', 'admission.k8s.io/v1beta1', 'v1'),
    operation: fc.constantFrom('CREATE', 'UPDATE', 'DELETE', 1),
  })
  .map(({ images, apiVersion, operation }) =>
    JSON.stringify({
      apiVersion,
      kind: 'AdmissionReview',
      request: {
        uid: 'u-1',
        kind: { group: '', version: 'v1', kind: 'Pod' },
        resource: { group: '', version: 'v1', resource: 'pods' },
        operation,
        object: { metadata: { labels: { secret: MARKER } }, spec: { containers: images.map((image, i) => ({ name: `c${i}`, image })) } },
      },
    }),
  );

const nested = fc.tuple(fc.integer({ min: 1, max: 50_000 }), fc.constantFrom('[', '{"a":')).map(([n, open]) => {
  const close = open === '[' ? ']' : '}';
  return `${open.repeat(n)}"${MARKER}"${close.repeat(n)}`;
});

interface Body {
  readonly text: string | null | number;
  readonly base64: unknown;
}
const body: fc.Arbitrary<Body> = fc.oneof(
  fc.record({ text: admission, base64: fc.constant(false) }),
  fc.record({ text: admission.map((t) => Buffer.from(t).toString('base64')), base64: fc.constant(true) }),
  fc.record({ text: fc.string({ maxLength: 100 }).map((s) => `${MARKER}${s}`), base64: fc.constantFrom(false, true, 'true', 1, null) }),
  fc.record({ text: fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.concat([Buffer.from(MARKER), Buffer.from(b)]).toString('base64')), base64: fc.constant(true) }),
  fc.record({ text: fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify([MARKER, v])), base64: fc.constant(false) }),
  fc.record({ text: nested, base64: fc.constant(false) }),
  fc.record({ text: fc.constantFrom(null, '', ' ', 42), base64: fc.constantFrom(false, true) }),
);

const path = fc.oneof(
  fc.constantFrom(`/mutate/${TOKEN}`, `/mutate/${TOKEN}/`, '/mutate', '/healthz', '/', `/mutate/${TOKEN.slice(0, -1)}`, `/mutate/${TOKEN}x`, ''),
  fc.string({ maxLength: 40 }),
);
const method = fc.oneof(fc.constantFrom('POST', 'post', 'GET', 'PUT', 'DELETE', 'HEAD', ''), fc.string({ maxLength: 10 }), fc.constant(7));
const odd = fc.oneof(fc.constantFrom(null, undefined, 0, '', [], {}, true), fc.jsonValue({ maxDepth: 2 }));

/** An event of one of the three shapes, with its fields sometimes replaced by odd values. */
const event = fc
  .record({
    template: fc.constantFrom(...TEMPLATES),
    body,
    path,
    method,
    token: fc.oneof(fc.constantFrom(TOKEN, undefined, null, '', 'nope'), fc.string({ maxLength: 30 })),
    breakage: fc.array(fc.tuple(fc.constantFrom('requestContext', 'pathParameters', 'headers', 'version', 'rawPath', 'httpMethod', 'path', 'isBase64Encoded', 'body'), odd), { maxLength: 3 }),
  })
  .map(({ template, body: b, path: p, method: m, token, breakage }) => {
    const e = JSON.parse(JSON.stringify(template)) as JsonObject;
    e['body'] = b.text;
    e['isBase64Encoded'] = b.base64;
    if ('httpMethod' in e) {
      e['httpMethod'] = m;
      e['path'] = p;
    } else {
      e['rawPath'] = p;
      const rc = e['requestContext'] as JsonObject;
      (rc['http'] as JsonObject)['method'] = m;
    }
    e['pathParameters'] = token === undefined ? undefined : { token };
    for (const [k, v] of breakage) e[k] = v;
    return e;
  });

const anyEvent = fc.oneof({ weight: 8, arbitrary: event }, { weight: 1, arbitrary: fc.anything({ maxDepth: 3 }) });

const target = fuzzTarget('handler');

describe('fuzz: the Lambda handler', () => {
  target.property(
    'any event: resolves with a known status, a JSON body, and never echoes the token or the body',
    () =>
      fc.asyncProperty(anyEvent, async (e) => {
        lines.length = 0;
        const result = await handler(e);
        expect(STATUSES.has(result.statusCode)).toBe(true);
        expect(result.headers['Content-Type']).toBe('application/json');
        const parsed: unknown = JSON.parse(result.body);
        expect(result.body).not.toContain(TOKEN);
        if (result.statusCode >= 400 && result.statusCode < 500) {
          expect(result.body).not.toContain(MARKER);
          const message = (parsed as { message?: unknown }).message;
          expect(typeof message === 'string' && FIXED.has(message)).toBe(true);
        }
        const logged = lines.join('\n');
        expect(logged).not.toContain(TOKEN);
        expect(logged).not.toContain(MARKER);
      }),
    { runs: 800 },
  );
});
