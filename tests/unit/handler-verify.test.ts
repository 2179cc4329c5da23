/**
 * The handler with existence checks (decide -> verify -> render) against a scriptable HTTPS
 * registry: present is rewritten; missing follows onMissing (keep with a warning saying why,
 * rewrite with a warning, deny with allowed: false and a message); unreachable follows
 * onUnreachable; the log line and the metrics carry the checks; a rule without `verify` makes no
 * request at all; the rules document's new fields are validated.
 */
import { describe, expect, it } from '@jest/globals';
import { parseRules } from '../../src/config/load.js';
import { formatIssue } from '../../src/config/schema.js';
import { fixedRules } from '../../src/config/sources.js';
import { createHandler, type WebhookResult } from '../../src/lambda/handler.js';
import { captureObservability, type Captured, EVENT_TOKEN, eventReview, type JsonObject, loadEvent, withBody } from '../helpers/events.js';
import type { Verifier } from '../../src/verify/verifier.js';
import { type Route, useFakeRegistry } from '../helpers/fake-registry.js';

const registry = useFakeRegistry();

/** events/rest-pod-v1.json: containers[0] is gcr.io/google-samples/hello-app:2.0. */
const EVENT = loadEvent('rest-pod-v1.json');

function rulesYaml(extra: string): string {
  return `rules:\n  - name: gcr\n    match: gcr.io\n    replace: ${registry.fake.host}/gcr\n${extra}`;
}

async function run(extra: string, route: Route, event: JsonObject = EVENT): Promise<{ result: WebhookResult; response: JsonObject; obs: Captured }> {
  const parsed = parseRules(rulesYaml(extra), {});
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
  registry.fake.route = route;
  const obs = captureObservability();
  const verifier = registry.verifier();
  const handler = createHandler({ rules: fixedRules(parsed.rewriter, 'test'), token: EVENT_TOKEN, logger: obs.logger, metrics: obs.metrics, verifier });
  const result = await handler(event);
  const body = JSON.parse(result.body) as { response: JsonObject };
  return { result, response: body.response, obs };
}

const patchOf = (response: JsonObject): { path: string; value: unknown }[] =>
  typeof response['patch'] === 'string' ? (JSON.parse(Buffer.from(response['patch'], 'base64').toString('utf8')) as { path: string; value: unknown }[]) : [];
const imagePatched = (response: JsonObject): boolean => patchOf(response).some((op) => op.path === '/spec/containers/0/image');
const warnings = (response: JsonObject): string[] => (Array.isArray(response['warnings']) ? (response['warnings'] as string[]) : []);
const reviewed = (obs: Captured): JsonObject | undefined => obs.logs().find((l) => l['message'] === 'admission reviewed');

const present: Route = (_q, s) => s.writeHead(200).end();
const absent: Route = (_q, s) => s.writeHead(404).end();
const broken: Route = (_q, s) => s.writeHead(500).end();

describe('verify: the target has the image', () => {
  it('rewrites, after one HEAD of the target manifest, and logs and counts the check', async () => {
    const { response, obs } = await run('    verify: true\n', present);
    expect(imagePatched(response)).toBe(true);
    expect(registry.fake.seen.map((r) => `${r.method} ${r.path}`)).toEqual(['HEAD /v2/gcr/google-samples/hello-app/manifests/2.0']);
    expect(reviewed(obs)).toMatchObject({ outcome: 'patched', verifyChecks: 1, verifyCacheHits: 0, verifyMissing: 0, verifyErrors: 0, verifyMs: expect.any(Number) });
    expect(JSON.stringify(obs.emf())).toContain('VerifyChecks');
  });
});

describe('verify: the target lacks the image', () => {
  it('keeps the original by default, and the warning says why', async () => {
    const { response, obs } = await run('    verify: true\n', absent);
    expect(response['allowed']).toBe(true);
    expect(imagePatched(response)).toBe(false);
    expect(warnings(response).join('\n')).toMatch(/left containers\[app\] gcr\.io\/google-samples\/hello-app:2\.0 unchanged \(rule gcr\): not found in 127\.0\.0\.1:\d+/);
    expect(reviewed(obs)).toMatchObject({ withheld: 1, verifyMissing: 1 });
  });

  it('rewrites anyway with onMissing: rewrite, and warns', async () => {
    const { response } = await run('    verify: true\n    onMissing: rewrite\n', absent);
    expect(imagePatched(response)).toBe(true);
    expect(warnings(response).join('\n')).toMatch(/rewrote containers\[app\] anyway \(rule gcr\): not found in/);
  });

  it('counts every warning left out when the rewrites and their warnings are more than fit', async () => {
    const review = eventReview(EVENT);
    const request = review['request'] as JsonObject;
    const object = request['object'] as { spec: Record<string, unknown> };
    object.spec = { containers: Array.from({ length: 40 }, (_, i) => ({ name: `c${String(i)}`, image: `gcr.io/p/a${String(i)}:1` })) };
    const { response } = await run('    verify: true\n    onMissing: rewrite\n', absent, withBody(EVENT, review));
    expect(patchOf(response).filter((op) => op.path.endsWith('/image'))).toHaveLength(40);
    const shown = warnings(response);
    expect(shown).toHaveLength(30);
    // 40 "rewrote" and 40 "rewrote anyway" warnings, 29 of them shown.
    expect(shown.at(-1)).toMatch(/^image-rewriter: 51 more warnings not shown/);
  });

  it('denies with onMissing: deny: allowed false, code 403, a message naming the image and why', async () => {
    const { result, response, obs } = await run('    verify: true\n    onMissing: deny\n', absent);
    expect(result.statusCode).toBe(200);
    expect(response).toMatchObject({ allowed: false, status: { code: 403, reason: 'Forbidden' } });
    expect(response['patch']).toBeUndefined();
    expect(String((response['status'] as JsonObject)['message'])).toMatch(/^image-rewriter denied the request: containers\[app\] gcr\.io\/google-samples\/hello-app:2\.0 -> 127\.0\.0\.1:\d+\/gcr\/google-samples\/hello-app:2\.0 \(rule gcr\): not found in 127\.0\.0\.1:\d+$/);
    expect(reviewed(obs)).toMatchObject({ level: 'WARN', outcome: 'denied', verifyMissing: 1, denied: expect.stringMatching(/^image-rewriter denied the request: containers\[app\]/) });
    expect(JSON.stringify(obs.emf())).toContain('"denied"');
  });

  it('writes control and bidi characters of a container name (admission runs before validation) as escapes in the denial kubectl prints', async () => {
    const review = eventReview(EVENT);
    const object = (review['request'] as JsonObject)['object'] as { spec: { containers: { name: string }[] } };
    const first = object.spec.containers[0];
    if (first === undefined) throw new Error('no container');
    first.name = 'app\n\u001b[2J\u001b[32mok: created\u202e';
    const { response } = await run('    verify: true\n    onMissing: deny\n', absent, withBody(EVENT, review));
    const message = String((response['status'] as JsonObject)['message']);
    expect(Array.from(message, (c) => c.charCodeAt(0)).filter((c) => c < 0x20 || c === 0x202e)).toEqual([]);
    expect(message).toContain('containers[app\\u000a\\u001b[2J\\u001b[32mok: created\\u202e]');
  });

  it('cuts a long denial between characters: never inside an escape or a surrogate pair, at most 1024 characters, "..." at the end', async () => {
    // Each control character is written as a 6-character escape and each emoji is two UTF-16
    // units: across these pads the 1024-character limit falls at every position inside them.
    for (const [pad, unit] of [0, 1, 2, 3, 4, 5].flatMap((p) => [[p, '\u0001'], [p, '\u{1f600}']] as const)) {
      const review = eventReview(EVENT);
      const object = (review['request'] as JsonObject)['object'] as { spec: { containers: { name: string }[] } };
      const first = object.spec.containers[0];
      if (first === undefined) throw new Error('no container');
      first.name = `${'a'.repeat(pad)}${unit.repeat(600)}`;
      const { response } = await run('    verify: true\n    onMissing: deny\n', absent, withBody(EVENT, review));
      const message = String((response['status'] as JsonObject)['message']);
      expect(message.length).toBeLessThanOrEqual(1024);
      expect(message.length).toBeGreaterThanOrEqual(1019);
      expect(message.endsWith('...')).toBe(true);
      const kept = message.slice(0, -3);
      // Every backslash starts a whole escape, and no surrogate is left without its pair.
      expect(kept.replace(/\\u[0-9a-f]{4}/g, '')).not.toContain('\\');
      expect(kept).not.toMatch(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/);
    }
  });

  it('keeps the count of the denials not listed when long names fill the message', async () => {
    const review = eventReview(EVENT);
    const object = (review['request'] as JsonObject)['object'] as { spec: { containers: { name: string; image: string }[]; initContainers?: unknown } };
    object.spec.initContainers = [];
    object.spec.containers = Array.from({ length: 8 }, (_, i) => ({ name: `${'n'.repeat(200)}${String(i)}`, image: `gcr.io/google-samples/app${String(i)}:1` }));
    const { response } = await run('    verify: true\n    onMissing: deny\n', absent, withBody(EVENT, review));
    const message = String((response['status'] as JsonObject)['message']);
    expect(message.length).toBeLessThanOrEqual(1024);
    expect(message).toMatch(/\.\.\.; and 3 more$/);
  });

  it('lists five denials whole, with no count of others', async () => {
    const review = eventReview(EVENT);
    const object = (review['request'] as JsonObject)['object'] as { spec: { containers: { name: string; image: string }[]; initContainers?: unknown } };
    object.spec.initContainers = [];
    object.spec.containers = Array.from({ length: 5 }, (_, i) => ({ name: `c${String(i)}`, image: `gcr.io/google-samples/app${String(i)}:1` }));
    const { response } = await run('    verify: true\n    onMissing: deny\n', absent, withBody(EVENT, review));
    const message = String((response['status'] as JsonObject)['message']);
    expect(message).not.toMatch(/more$/);
    for (let i = 0; i < 5; i++) expect(message).toContain(`gcr.io/google-samples/app${String(i)}:1`);
  });

  it('counts an index without a wanted platform as missing', async () => {
    const index = JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [{ digest: 'sha256:a', platform: { os: 'linux', architecture: 'amd64' } }] });
    const { response } = await run('    verify: true\n    platforms: [linux/amd64, linux/arm64]\n', (_q, s) => s.writeHead(200).end(index));
    expect(imagePatched(response)).toBe(false);
    expect(warnings(response).join('\n')).toMatch(/lacks platform linux\/arm64/);
  });

  it('says which Windows build is lacking, in the warning cut to its length too', async () => {
    const index = JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [{ digest: 'sha256:a', platform: { os: 'windows', architecture: 'amd64', 'os.version': '10.0.17763.6414' } }],
    });
    const { response, obs } = await run('    verify: true\n    platforms: ["windows(10.0.20348)/amd64"]\n', (_q, s) => s.writeHead(200).end(index));
    expect(imagePatched(response)).toBe(false);
    // The warning keeps the end of the reason: the platform lacking, not only the builds the target has.
    expect(warnings(response).join('\n')).toMatch(/platform windows\(10\.0\.20348\)\/amd64$/);
    expect(JSON.stringify(reviewed(obs))).toContain('(its windows/amd64 builds: 10.0.17763.6414) lacks platform windows(10.0.20348)/amd64');
  });
});

describe('verify: image volumes', () => {
  /** EVENT's Pod with an image volume `data` from gcr.io (and its container from elsewhere). */
  function withVolume(): JsonObject {
    const review = eventReview(EVENT);
    const object = (review['request'] as JsonObject)['object'] as { spec: Record<string, unknown> };
    object.spec = { containers: [{ name: 'app', image: 'registry.internal/app:1' }], volumes: [{ name: 'data', image: { reference: 'gcr.io/p/data:1' } }] };
    return withBody(EVENT, review);
  }
  const volumePatched = (response: JsonObject): boolean => patchOf(response).some((op) => op.path === '/spec/volumes/0/image/reference');

  it('checks the target of an image volume: rewritten when present, kept (with a warning naming the volume) when missing', async () => {
    const found = await run('    verify: true\n', present, withVolume());
    expect(volumePatched(found.response)).toBe(true);
    expect(registry.fake.seen.map((r) => `${r.method} ${r.path}`)).toEqual(['HEAD /v2/gcr/p/data/manifests/1']);
    const missing = await run('    verify: true\n', absent, withVolume());
    expect(volumePatched(missing.response)).toBe(false);
    expect(warnings(missing.response).join('\n')).toMatch(/left volumes\[data\] gcr\.io\/p\/data:1 unchanged \(rule gcr\): not found in/);
  });

  it('denies naming the volume with onMissing: deny', async () => {
    const { response } = await run('    verify: true\n    onMissing: deny\n', absent, withVolume());
    expect(response).toMatchObject({ allowed: false });
    expect(String((response['status'] as JsonObject)['message'])).toMatch(/^image-rewriter denied the request: volumes\[data\] gcr\.io\/p\/data:1 -> /);
  });
});

describe('verify on UPDATE (README, "Scope")', () => {
  it('does not check again an image the update leaves as it was: re-applying a kept template keeps it', async () => {
    const review = eventReview(EVENT);
    const request = review['request'] as JsonObject;
    const deployment = (): JsonObject => ({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web', namespace: 'default' }, spec: { template: { spec: { containers: [{ name: 'web', image: 'gcr.io/web:1' }] } } } });
    Object.assign(request, { kind: { group: 'apps', version: 'v1', kind: 'Deployment' }, resource: { group: 'apps', version: 'v1', resource: 'deployments' }, operation: 'UPDATE', object: deployment(), oldObject: deployment() });
    delete request['requestKind'];
    delete request['requestResource'];
    const { response } = await run('    verify: true\n', present, withBody(EVENT, review));
    expect(patchOf(response)).toEqual([]);
    expect(registry.fake.seen).toEqual([]);
  });
  it('does not check the stored rewrite of a re-applied Job (rules unchanged): a registry outage must not send the upstream image to its immutable template', async () => {
    // kubectl apply of the unchanged manifest sends gcr.io/web:1 again; the stored Job has the
    // rewrite, which is the rules' target too. Kept for "unreachable", the upstream image would be
    // refused as a change of the template ("field is immutable").
    const review = eventReview(EVENT);
    const request = review['request'] as JsonObject;
    const target = `${registry.fake.host}/gcr/web:1`;
    const job = (image: string): JsonObject => ({
      apiVersion: 'batch/v1',
      kind: 'Job',
      metadata: { name: 'j', namespace: 'default', annotations: { 'image-rewriter.io/original-images': '{"containers/web":"gcr.io/web:1"}' } },
      spec: { template: { spec: { restartPolicy: 'Never', containers: [{ name: 'web', image }] } } },
    });
    Object.assign(request, { kind: { group: 'batch', version: 'v1', kind: 'Job' }, resource: { group: 'batch', version: 'v1', resource: 'jobs' }, operation: 'UPDATE', object: job('gcr.io/web:1'), oldObject: job(target) });
    delete request['requestKind'];
    delete request['requestResource'];
    for (const extra of ['    verify: true\n', '    verify: true\n    onMissing: deny\n']) {
      const { response } = await run(extra, broken, withBody(EVENT, review));
      expect(response['allowed']).toBe(true);
      expect(patchOf(response).filter((op) => op.path.endsWith('/image'))).toEqual([{ op: 'replace', path: '/spec/template/spec/containers/0/image', value: target }]);
      expect(registry.fake.seen).toEqual([]);
    }
  });
  it('does not check the stored rewrite of a re-applied Deployment or Pod: a registry outage or a deleted tag must not roll them out to upstream', async () => {
    // Every GitOps sync re-applies gcr.io/web:1; the stored object runs the rewrite. Checked
    // again and kept, the upstream image would start a rollout (a Pod: a container restart) now and
    // another one back when the registry answers again.
    const target = `${registry.fake.host}/gcr/web:1`;
    const deployment = (image: string): JsonObject => ({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web', namespace: 'default' }, spec: { template: { spec: { containers: [{ name: 'web', image }] } } } });
    const pod = (image: string): JsonObject => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web', namespace: 'default' }, spec: { containers: [{ name: 'web', image }] } });
    const cases = [
      { kind: { group: 'apps', version: 'v1', kind: 'Deployment' }, resource: { group: 'apps', version: 'v1', resource: 'deployments' }, make: deployment, pointer: '/spec/template/spec/containers/0/image' },
      { kind: { group: '', version: 'v1', kind: 'Pod' }, resource: { group: '', version: 'v1', resource: 'pods' }, make: pod, pointer: '/spec/containers/0/image' },
    ];
    for (const { kind, resource, make, pointer } of cases) {
      for (const [extra, route] of [['    verify: true\n', broken], ['    verify: true\n    onMissing: deny\n', absent]] as const) {
        const review = eventReview(EVENT);
        const request = review['request'] as JsonObject;
        Object.assign(request, { kind, resource, operation: 'UPDATE', object: make('gcr.io/web:1'), oldObject: make(target) });
        delete request['requestKind'];
        delete request['requestResource'];
        const { response } = await run(extra, route, withBody(EVENT, review));
        expect([kind.kind, response['allowed']]).toEqual([kind.kind, true]);
        expect(patchOf(response).filter((op) => op.path.endsWith('/image'))).toEqual([{ op: 'replace', path: pointer, value: target }]);
        expect(registry.fake.seen).toEqual([]);
      }
    }
  });
  it('does not deny an update of an object that already runs the recorded original whose target is missing: it keeps it, with a warning', async () => {
    // A Deployment rewritten at creation, put back to gcr.io/web:1 by a sync while the webhook was
    // down; its target has since left the mirror (a lifecycle policy). The rules decide the stored
    // image again on every update, but a denial cannot stop what already runs: it would refuse a
    // label, a rollout restart, every re-apply, and the garbage collector's removal of a finalizer
    // (the object could not be deleted).
    const annotations = { 'image-rewriter.io/original-images': '{"containers/web":"gcr.io/web:1"}' };
    const deployment = (labels: Record<string, string>): JsonObject => ({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'web', namespace: 'default', labels, annotations },
      spec: { template: { spec: { containers: [{ name: 'web', image: 'gcr.io/web:1' }] } } },
    });
    const review = eventReview(EVENT);
    const request = review['request'] as JsonObject;
    Object.assign(request, { kind: { group: 'apps', version: 'v1', kind: 'Deployment' }, resource: { group: 'apps', version: 'v1', resource: 'deployments' }, operation: 'UPDATE', object: deployment({ team: 'a' }), oldObject: deployment({}) });
    delete request['requestKind'];
    delete request['requestResource'];
    const { response, obs } = await run('    verify: true\n    onMissing: deny\n', absent, withBody(EVENT, review));
    expect(response['allowed']).toBe(true);
    expect(patchOf(response).filter((op) => op.path.endsWith('/image'))).toEqual([]);
    expect(warnings(response).join('\n')).toMatch(/left containers\[web\] gcr\.io\/web:1 unchanged \(rule gcr\): not found in 127\.0\.0\.1:\d+/);
    expect(reviewed(obs)).toMatchObject({ withheld: 1, verifyMissing: 1 });
    // Present, it is rewritten back, as without a check.
    const { response: back } = await run('    verify: true\n    onMissing: deny\n', present, withBody(EVENT, review));
    expect(patchOf(back).filter((op) => op.path.endsWith('/image'))).toEqual([{ op: 'replace', path: '/spec/template/spec/containers/0/image', value: `${registry.fake.host}/gcr/web:1` }]);
    // Only a denial becomes keep: with onMissing: rewrite it is rewritten anyway, as any missing target is.
    const { response: anyway } = await run('    verify: true\n    onMissing: rewrite\n', absent, withBody(EVENT, review));
    expect(patchOf(anyway).filter((op) => op.path.endsWith('/image'))).toEqual([{ op: 'replace', path: '/spec/template/spec/containers/0/image', value: `${registry.fake.host}/gcr/web:1` }]);
  });
  it('still checks an UPDATE that brings an image the stored object does not run (a new tag)', async () => {
    const deployment = (image: string): JsonObject => ({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web', namespace: 'default' }, spec: { template: { spec: { containers: [{ name: 'web', image }] } } } });
    const review = eventReview(EVENT);
    const request = review['request'] as JsonObject;
    Object.assign(request, { kind: { group: 'apps', version: 'v1', kind: 'Deployment' }, resource: { group: 'apps', version: 'v1', resource: 'deployments' }, operation: 'UPDATE', object: deployment('gcr.io/web:2'), oldObject: deployment(`${registry.fake.host}/gcr/web:1`) });
    delete request['requestKind'];
    delete request['requestResource'];
    const { response } = await run('    verify: true\n', absent, withBody(EVENT, review));
    expect(patchOf(response).filter((op) => op.path.endsWith('/image'))).toEqual([]);
    expect(registry.fake.seen.length).toBeGreaterThan(0);
  });
});

describe('verify: the target cannot be asked', () => {
  it('keeps the original by default (onUnreachable: keep)', async () => {
    const { response, obs } = await run('    verify: true\n', broken);
    expect(imagePatched(response)).toBe(false);
    expect(warnings(response).join('\n')).toMatch(/\(rule gcr\): not checked, 127\.0\.0\.1:\d+ answered 500/);
    expect(reviewed(obs)).toMatchObject({ verifyErrors: 1 });
  });

  it('rewrites with onUnreachable: rewrite, even with onMissing: deny', async () => {
    const { response } = await run('    verify: true\n    onMissing: deny\n    onUnreachable: rewrite\n', broken);
    expect(response['allowed']).toBe(true);
    expect(imagePatched(response)).toBe(true);
    expect(warnings(response).join('\n')).toMatch(/rewrote containers\[app\] anyway .*not checked/);
  });
});

describe('no rule verifies', () => {
  it('makes no request at all and logs no check', async () => {
    const { response, obs } = await run('', present);
    expect(imagePatched(response)).toBe(true);
    expect(registry.fake.seen).toEqual([]);
    expect(reviewed(obs)?.['verifyChecks']).toBeUndefined();
  });
});

describe('the rules document', () => {
  it.each([
    ['onMissing without verify', '    onMissing: keep\n', /rules\[0\]\.onMissing: applies only with "verify: true"/],
    ['platforms without verify', '    platforms: [linux/amd64]\n', /rules\[0\]\.platforms: applies only with "verify: true"/],
    ['an unknown onMissing', '    verify: true\n    onMissing: maybe\n', /rules\[0\]\.onMissing/],
    ['onUnreachable: deny', '    verify: true\n    onUnreachable: deny\n', /rules\[0\]\.onUnreachable/],
    ['a bad platform', '    verify: true\n    platforms: [amd64]\n', /rules\[0\]\.platforms\[0\]: "amd64" must be os\/architecture/],
    ['verify that is not a boolean', '    verify: yes please\n', /rules\[0\]\.verify/],
  ])('refuses %s', (_what, extra, message) => {
    const parsed = parseRules(rulesYaml(extra), {});
    expect(parsed.ok).toBe(false);
    if (parsed.ok) return;
    expect(parsed.issues.map(formatIssue).join('\n')).toMatch(message);
  });

  it('compiles verify with its defaults', () => {
    const parsed = parseRules(rulesYaml('    verify: true\n'), {});
    expect(parsed.ok && parsed.rewriter.rules[0]?.verify).toEqual({ onMissing: 'keep', onUnreachable: 'keep', platforms: [] });
    const off = parseRules(rulesYaml(''), {});
    expect(off.ok && off.rewriter.rules[0]?.verify).toBeUndefined();
  });
});

// Regression (QA-37): `serve` runs reviews concurrently on one Metrics. Each review recorded its
// checks when they ended and its outcome when it answered, so reviews whose checks ended together
// (a ReplicaSet's Pods sharing one check) put all their checks in the first document flushed: one
// document with VerifyChecks 4 and VerifyLatency 1243.9 (four checks of about 310 ms summed) beside
// Reviews 1, three with none. Each document now holds its own review's checks.
describe('verify: concurrent reviews (serve)', () => {
  it('puts each review\'s checks and VerifyLatency in its own EMF document', async () => {
    const parsed = parseRules(rulesYaml('    verify: true\n'), {});
    if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
    const obs = captureObservability();
    // The reviews' checks end in the same turn, as a check they share does.
    let release: () => void = () => undefined;
    const ended = new Promise<void>((resolve) => { release = resolve; });
    let latencyMs = 100;
    const verifier: Verifier = {
      verify: async (requests) => {
        const latency = latencyMs++;
        await ended;
        return { verdicts: requests.map(() => ({ status: 'present', cached: false }) as const), stats: { checks: requests.length, cacheHits: 0, missing: 0, errors: 0, latencyMs: latency } };
      },
    };
    const handler = createHandler({ rules: fixedRules(parsed.rewriter, 'test'), token: EVENT_TOKEN, logger: obs.logger, metrics: obs.metrics, verifier });
    const answers = [handler(EVENT), handler(EVENT), handler(EVENT)];
    release();
    expect((await Promise.all(answers)).map((r) => r.statusCode)).toEqual([200, 200, 200]);
    const documents = obs.emf();
    expect(documents).toHaveLength(3);
    for (const d of documents) expect(d).toMatchObject({ Outcome: 'patched', Reviews: 1, VerifyChecks: 1 });
    expect(documents.map((d) => d['VerifyLatency']).sort()).toEqual([100, 101, 102]);
  });
});
