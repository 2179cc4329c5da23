/**
 * Security review of the handler: the token check and what reaches the logs.
 *
 * - Token: compared by `sameToken` (every unit of the configured token XOR-ed with the candidate's
 *   and OR-ed together, the length difference too), so the comparison takes the same time whatever
 *   the length or content of the candidate; every wrong token of every length
 *   from 0 to 200 (and every prefix and one-character change of the right one) gets 401, before the
 *   body is even decoded. The source is checked for the one comparison and for no other use of the
 *   token that could return early on its content.
 * - Logs: a recognizable token and a recognizable body run through every outcome (200 patched,
 *   fail-open, every fixed 400, 401, 405, 500) with every log line and EMF document captured:
 *   neither the token nor the body's private parts (labels, env values, annotations) ever appear.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { fixedRules, type RulesProvider } from '../../src/config/sources.js';
import { sameToken } from '../../src/config/token-check.js';
import { createHandler, MESSAGES } from '../../src/lambda/handler.js';
import { EXAMPLE_RULES } from '../../src/cli/invoke.js';
import { captureObservability, type JsonObject, loadEvent, withBody } from '../helpers/events.js';
import { REPO_ROOT } from '../helpers/fixtures.js';
import { rewriterFrom } from '../helpers/rules.js';
import { podReview } from '../helpers/admission-review.js';

const TOKEN = 'Sec-Token_0123456789.abcdefXYZ~';
const SECRET = 'PRIVATE-BODY-7d2e';
const rules = fixedRules(rewriterFrom(EXAMPLE_RULES), 'example');

function setup(provider: RulesProvider = rules) {
  const obs = captureObservability();
  return { obs, invoke: createHandler({ rules: provider, token: TOKEN, logger: obs.logger, metrics: obs.metrics }) };
}

const event = (token: string | null, body: unknown = review()): JsonObject => ({
  ...withBody(loadEvent('rest-pod-v1.json'), body),
  path: `/mutate/${token ?? ''}`,
  pathParameters: token === null ? null : { token },
});

/** A review whose private parts (label, env value, annotation) carry SECRET. */
function review(): JsonObject {
  return podReview(
    {
      metadata: { name: 'p', labels: { secret: SECRET }, annotations: { note: SECRET } },
      spec: { containers: [{ name: 'app', image: 'gcr.io/app:1', env: [{ name: 'PASSWORD', value: SECRET }], args: [SECRET] }, { name: 'bad', image: 'Bad!Image' }, { name: 'odd', image: 7 }] },
    },
    { uid: 'uid-sec' },
  );
}

describe('the token check', () => {
  it('is one constant-time comparison, with no other use of the token', () => {
    const source = readFileSync(join(REPO_ROOT, 'src', 'lambda', 'handler.ts'), 'utf8');
    // One matcher (serve uses it too, before it reads a body): the presented token compared with
    // the configured one by sameToken, whose loop has no branch on the content.
    expect(source).toMatch(/if \(previous === undefined\) return \(presented\) => \(sameToken\(presented, current\) \? 'current' : undefined\);/);
    // During a rotation both tokens are compared, whichever matches, before either result is used.
    expect(source).toMatch(/const isCurrent = sameToken\(presented, current\);\n\s*const isPrevious = sameToken\(presented, previous\);\n\s*return isCurrent \? 'current' : isPrevious \? 'previous' : undefined;/);
    expect(source.match(/sameToken\(/g)).toHaveLength(3); // one comparison per configured token
    const check = readFileSync(join(REPO_ROOT, 'src', 'config', 'token-check.ts'), 'utf8');
    const body = /export function sameToken\(presented: string, expected: string\): boolean \{\n([^]*?)\n\}/.exec(check)?.[1];
    expect(body).toBe(
      [
        '  let diff = presented.length ^ expected.length;',
        '  for (let i = 0; i < expected.length; i++) diff |= presented.charCodeAt(i) ^ expected.charCodeAt(i);',
        '  return diff === 0;',
      ].join('\n'),
    );
    // The request's token is read in one place and used in one place: handed to that matcher.
    expect(source.match(/requestToken\(/g)).toHaveLength(2);
    expect(source).toMatch(/const match = matches\(requestToken\(req\)\);\n\s*if \(match === undefined\) \{/);
    expect(source).toMatch(/function requestToken\(req: HttpRequest\): string \{/);
    // The configured token is only checked for presence at build time, then given to the matcher.
    const uses = source.match(/deps\.token[^;\n]*/g) ?? [];
    expect(uses).toEqual(["deps.token === 'string' ? [deps.token] : deps.token", 'deps.token)']);
    expect(source).toMatch(/if \(tokens !== undefined && \(tokens\.length === 0 \|\| tokens\.length > MAX_TOKENS \|\| tokens\.includes\(''\)\)\) \{\n\s*throw new TypeError/);
    // No length, prefix or equality test on the digests or the token.
    expect(source).not.toMatch(/\.(startsWith|endsWith|includes|indexOf)\(\s*(expected|token)|expected\.(length|equals)|[!=]==\s*expected/);
  });

  const wrong: { what: string; token: string | null }[] = [
    { what: 'no path parameter and no token segment', token: null },
    ...Array.from({ length: 201 }, (_, n) => ({ what: `${n} characters`, token: 'x'.repeat(n) })),
    ...Array.from({ length: TOKEN.length }, (_, n) => ({ what: `the first ${n} characters of the token`, token: TOKEN.slice(0, n) })),
    ...Array.from({ length: TOKEN.length }, (_, n) => ({ what: `the token with character ${n} changed`, token: TOKEN.slice(0, n) + (TOKEN[n] === 'a' ? 'b' : 'a') + TOKEN.slice(n + 1) })),
    { what: 'the token and one more character', token: `${TOKEN}a` },
    { what: 'the token twice', token: TOKEN + TOKEN },
    { what: 'the token in upper case', token: TOKEN.toUpperCase() },
    { what: 'the token URL-encoded', token: encodeURIComponent(TOKEN).replace(/~/g, '%7E') },
    { what: 'the token with a NUL', token: `${TOKEN}\u0000` },
  ];

  it(`answers 401 to all ${wrong.length} wrong tokens, without decoding the body, and never logs them`, async () => {
    const { invoke, obs } = setup();
    for (const { what, token } of wrong) {
      // An invalid body: a 400 would mean the body was looked at before the token.
      const result = await invoke(event(token, 'not json'));
      if (result.statusCode !== 401) throw new Error(`${what}: ${result.statusCode}`);
      expect(JSON.parse(result.body)).toEqual({ message: MESSAGES.unauthorized });
    }
    expect(obs.text()).not.toContain(TOKEN);
  });

  it('answers the right token, in the path parameter or as the last path segment', async () => {
    const { invoke } = setup();
    expect((await invoke(event(TOKEN))).statusCode).toBe(200);
    expect((await invoke({ ...event(TOKEN), pathParameters: null })).statusCode).toBe(200);
  });
});

describe('nothing private in the logs', () => {
  const broken: RulesProvider = { current: () => Promise.reject(new Error('provider failed')) };
  const notLoaded: RulesProvider = { current: () => Promise.resolve({ ok: false, reason: 'rules parameter could not be read (AccessDeniedException)' }) };
  const base = (): JsonObject => event(TOKEN);
  const rows: { what: string; status: number; provider?: RulesProvider; make: () => unknown }[] = [
    { what: 'patched', status: 200, make: base },
    { what: 'fail-open', status: 200, provider: notLoaded, make: base },
    { what: 'skipped (DELETE)', status: 200, make: () => event(TOKEN, { ...review(), request: { ...(review()['request'] as JsonObject), operation: 'DELETE' } }) },
    { what: 'not JSON', status: 400, make: () => event(TOKEN, `{"${SECRET}":`) },
    { what: 'not an object', status: 400, make: () => event(TOKEN, `["${SECRET}"]`) },
    { what: 'wrong apiVersion', status: 400, make: () => event(TOKEN, { ...review(), apiVersion: SECRET }) },
    { what: 'wrong kind', status: 400, make: () => event(TOKEN, { ...review(), kind: SECRET }) },
    { what: 'bad base64', status: 400, make: () => ({ ...base(), body: `${SECRET}!`, isBase64Encoded: true }) },
    { what: 'not UTF-8', status: 400, make: () => ({ ...base(), body: Buffer.concat([Buffer.from(SECRET), Buffer.from([0xff])]).toString('base64'), isBase64Encoded: true }) },
    { what: 'too large', status: 400, make: () => event(TOKEN, `"${SECRET}${'x'.repeat(7 * 1024 * 1024)}"`) },
    { what: 'wrong token', status: 401, make: () => event(`${TOKEN}x`) },
    { what: 'GET', status: 405, make: () => ({ ...base(), httpMethod: 'GET' }) },
    { what: 'unsupported event', status: 400, make: () => ({ Records: [{ body: SECRET, token: TOKEN }] }) },
    { what: 'provider throws', status: 500, provider: broken, make: base },
  ];

  it.each(rows)('$what: $status, and neither the token nor the body in any log line or metric', async ({ status, provider, make }) => {
    const { invoke, obs } = setup(provider);
    const result = await invoke(make());
    expect(result.statusCode).toBe(status);
    expect(obs.lines.length).toBeGreaterThan(0);
    const text = obs.text();
    expect(text).not.toContain(TOKEN);
    expect(text).not.toContain(SECRET);
    expect(text).not.toContain('PASSWORD');
    if (status !== 200) expect(result.body).not.toContain(SECRET);
    expect(result.body).not.toContain(TOKEN);
  });
});

describe('sameToken', () => {
  it('is true for the same string only', () => {
    const t = 'example-token-0123456789abcdef';
    expect(sameToken(t, t)).toBe(true);
    expect(sameToken(Array.from(t).join(''), t)).toBe(true);
    for (const other of ['', t.slice(0, -1), `${t}x`, `${t}\u0000`, t.toUpperCase(), `x${t.slice(1)}`, t.replace('0', '\u0130'), `${t.slice(0, 10)}\uD800${t.slice(11)}`]) {
      expect(sameToken(other, t)).toBe(false);
    }
    // Units that differ only above the low byte, and lengths that differ by a power of two.
    expect(sameToken('\u0161', 'a')).toBe(false);
    expect(sameToken('a'.repeat(16), 'a'.repeat(48))).toBe(false);
    expect(sameToken('a'.repeat(48), 'a'.repeat(16))).toBe(false);
  });
});
