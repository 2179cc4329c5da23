/**
 * The existence check against a scriptable HTTPS server (tests/helpers/fake-registry.ts) that
 * misbehaves: slow (the deadline holds), 401, 404, 5xx, a TLS error, a DNS failure, a refused
 * connection, the breaker opening and then half-opening, huge and malformed answers, redirect
 * loops, and the token flow's own failures. Every case must end in a verdict, never a throw.
 */
import { describe, expect, it } from '@jest/globals';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { createServer as createHttpServer } from 'node:http';
import { Agent } from 'node:https';
import type { AddressInfo, LookupFunction } from 'node:net';
import { freePort } from '../integration/helpers/processes.js';
import { anonymous, noAws, type Route, startFakeRegistry, useFakeRegistry } from '../helpers/fake-registry.js';
import type { CredentialLookup } from '../../src/verify/oci.js';
import { send } from '../../src/verify/http.js';
import { MAX_CHECKS_PER_REVIEW, reviewVerified } from '../../src/lambda/verify-step.js';
import { podReview } from '../helpers/admission-review.js';
import { rewriterFrom } from '../helpers/rules.js';
import { createVerifier, DEFAULTS, type Verdict, type Verifier, type VerifierOptions } from '../../src/verify/verifier.js';

const registry = useFakeRegistry();
const verifier = (extra: Partial<VerifierOptions> = {}): Verifier => registry.verifier(extra);

async function one(route: Route, image = `${registry.fake.host}/team/app:1.0`, extra: Partial<VerifierOptions> = {}, platforms: string[] = []): Promise<Verdict> {
  registry.fake.route = route;
  const { verdicts } = await verifier(extra).verify([{ image, platforms }]);
  if (verdicts[0] === undefined) throw new Error('no verdict');
  return verdicts[0];
}

/**
 * A registry that answers the first request of each connection (present, after `delayMs`; with a
 * length, as registries answer HEAD: Node keeps the connection then) and drops the connection at
 * its second, as one that closed it idle does to a request that crossed the close.
 */
function secondRequestDropped(delayMs: number): Route {
  const served = new WeakMap<object, number>();
  return (q, s) => {
    const n = (served.get(q.socket) ?? 0) + 1;
    served.set(q.socket, n);
    const present = (): void => {
      s.writeHead(200, { 'content-type': 'application/vnd.oci.image.index.v1+json', 'content-length': '100' }).end();
    };
    if (n > 1) q.socket.destroy();
    else if (delayMs === 0) present();
    else setTimeout(present, delayMs);
  };
}

/** node:https's agent, counting the connections it opens. */
class CountingAgent extends Agent {
  opened = 0;
  override createConnection(...args: Parameters<Agent['createConnection']>): ReturnType<Agent['createConnection']> {
    this.opened++;
    return super.createConnection(...args);
  }
}

const INDEX = JSON.stringify({
  schemaVersion: 2,
  mediaType: 'application/vnd.oci.image.index.v1+json',
  manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: 'sha256:aa', size: 1, platform: { os: 'linux', architecture: 'amd64' } }],
});

describe('answers of the registry', () => {
  it.each<[string, Route, Verdict['status'], RegExp | undefined]>([
    ['200 is present', (_q, s) => s.writeHead(200).end(), 'present', undefined],
    ['404 is missing', (_q, s) => s.writeHead(404).end(), 'missing', /not found in 127\.0\.0\.1:\d+$/],
    ['404 with the registry\'s JSON error is missing', (_q, s) => s.writeHead(404, { 'content-type': 'application/json; charset=utf-8' }).end('{"errors":[{"code":"MANIFEST_UNKNOWN"}]}'), 'missing', /not found in 127\.0\.0\.1:\d+$/],
    ['404 with a web page is unreachable, not missing (a host that is no registry)', (_q, s) => s.writeHead(404, { 'content-type': 'text/html' }).end('<html>Not Found</html>'), 'unreachable', /answered 404 with a web page \(text\/html\), not a registry's answer/],
    ['200 with a web page is unreachable, not present', (_q, s) => s.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end('<html></html>'), 'unreachable', /answered a web page \(text\/html\), not a manifest/],
    ['500 is unreachable', (_q, s) => s.writeHead(500).end(), 'unreachable', /answered 500/],
    ['503 is unreachable', (_q, s) => s.writeHead(503).end(), 'unreachable', /answered 503/],
    ['429 is unreachable', (_q, s) => s.writeHead(429).end(), 'unreachable', /answered 429/],
    ['401 without a challenge is unreachable', (_q, s) => s.writeHead(401).end(), 'unreachable', /refused access \(401\)/],
    ['403 is unreachable', (_q, s) => s.writeHead(403).end(), 'unreachable', /refused access \(403\)/],
    ['a redirect loop is unreachable', (_q, s) => s.writeHead(302, { location: '/v2/team/app/manifests/1.0' }).end(), 'unreachable', /more than 3 redirects/],
    ['a redirect to http is unreachable', (_q, s) => s.writeHead(302, { location: 'http://127.0.0.1:1/x' }).end(), 'unreachable', /over http/],
    ['a redirect to an invalid URL is unreachable', (_q, s) => s.writeHead(302, { location: 'https://[nope' }).end(), 'unreachable', /invalid URL/],
    ['a connection cut mid-answer is unreachable', (q) => q.socket.destroy(), 'unreachable', /reset|cannot talk/],
  ])('%s', async (_what, route, status, reason) => {
    const v = await one(route);
    expect(v.status).toBe(status);
    if (reason !== undefined) expect(v).toMatchObject({ reason: expect.stringMatching(reason) });
  });

  it('asks with HEAD and the Accept headers of OCI and Docker manifests and indexes', async () => {
    await one((_q, s) => s.writeHead(200).end());
    expect(registry.fake.seen).toHaveLength(1);
    expect(registry.fake.seen[0]?.method).toBe('HEAD');
    for (const t of ['application/vnd.oci.image.index.v1+json', 'application/vnd.docker.distribution.manifest.list.v2+json', 'application/vnd.oci.image.manifest.v1+json', 'application/vnd.docker.distribution.manifest.v2+json']) {
      expect(registry.fake.seen[0]?.accept).toContain(t);
    }
  });

  it('asks again with GET when the registry does not allow HEAD (405), as containerd does', async () => {
    const v = await one((q, s) => (q.method === 'HEAD' ? s.writeHead(405).end() : s.writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json' }).end('{}')));
    // Before: `answered 405`, unreachable, so onUnreachable kept every image of a registry the kubelet pulls from.
    expect(v.status).toBe('present');
    expect(registry.fake.seen.map((r) => `${r.method} ${r.path}`)).toEqual(['HEAD /v2/team/app/manifests/1.0', 'GET /v2/team/app/manifests/1.0']);
    expect(await one((q, s) => (q.method === 'HEAD' ? s.writeHead(405).end() : s.writeHead(404).end()))).toMatchObject({ status: 'missing' });
    expect(await one((_q, s) => s.writeHead(405).end())).toMatchObject({ status: 'unreachable', reason: expect.stringMatching(/answered 405/) });
  });

  it('follows a redirect within the limit, and asks by digest when the image has one', async () => {
    const digest = `sha256:${'a'.repeat(64)}`;
    const v = await one((q, s) => (q.url?.includes('moved') === true ? s.writeHead(200).end() : s.writeHead(307, { location: '/moved' }).end()), `${registry.fake.host}/team/app:1.0@${digest}`);
    expect(v.status).toBe('present');
    expect(registry.fake.seen[0]?.path).toBe(`/v2/team/app/manifests/${digest}`);
  });
});

describe('the deadline and the network', () => {
  it('answers unreachable at the deadline when the registry never answers', async () => {
    const v = await one(() => undefined, undefined, { deadlineMs: 200 });
    expect(v).toMatchObject({ status: 'unreachable', reason: expect.stringMatching(/deadline/) });
  });

  it('answers unreachable at the deadline when the body trickles', async () => {
    const v = await one((_q, s) => {
      s.writeHead(200, { 'content-type': 'application/vnd.oci.image.index.v1+json' });
      s.write('{');
    }, undefined, { deadlineMs: 200 }, ['linux/amd64']);
    expect(v).toMatchObject({ status: 'unreachable' });
  });

  describe('an answer whose body is not needed is not waited for (a GET: a platforms check, a HEAD refused)', () => {
    /** Headers now, then a body that never ends. */
    const endless = (status: number, headers: Record<string, string>): Route => (_q, s) => {
      s.writeHead(status, headers);
      s.flushHeaders();
      const timer = setInterval(() => s.write('x'.repeat(100)), 10);
      s.on('close', () => {
        clearInterval(timer);
      });
    };
    const INDEX_TYPE = { 'content-type': 'application/vnd.oci.image.index.v1+json' };
    it.each<[string, Route, string[], Verdict['status']]>([
      ['a 404 is missing', endless(404, { 'content-type': 'application/json' }), ['linux/amd64'], 'missing'],
      ['a 401 challenge gets its token', (q, s, url) => {
        if (url.pathname === '/token') s.writeHead(200).end('{"token":"good"}');
        else if (q.headers.authorization === 'Bearer good') s.writeHead(200, INDEX_TYPE).end(INDEX);
        else endless(401, { 'www-authenticate': `Bearer realm="https://${registry.fake.host}/token"` })(q, s, url);
      }, ['linux/amd64'], 'present'],
      ['a redirect is followed', (q, s, url) => {
        if (url.pathname === '/moved') s.writeHead(200, INDEX_TYPE).end(INDEX);
        else endless(307, { location: '/moved' })(q, s, url);
      }, ['linux/amd64'], 'present'],
      ['the GET after a HEAD refused (405) answers by its status', (q, s, url) => {
        if (q.method === 'HEAD') s.writeHead(405).end();
        else endless(200, INDEX_TYPE)(q, s, url);
      }, [], 'present'],
    ])('%s', async (_what, route, platforms, status) => {
      // Its verdict, not its time: an answer that waited for the body would be cut by the deadline
      // (unreachable). A long deadline, so that a loaded machine does not cut a correct one.
      const v = await one(route, undefined, { deadlineMs: 5000 }, platforms);
      expect(v.status).toBe(status);
    });
  });

  it('answers unreachable on a TLS error (a CA it does not trust)', async () => {
    registry.fake.route = (_q, s) => s.writeHead(200).end();
    const { verdicts } = await createVerifier({ credentials: anonymous, ecr: noAws }).verify([{ image: `${registry.fake.host}/a:1`, platforms: [] }]);
    expect(verdicts[0]).toMatchObject({ status: 'unreachable', reason: expect.stringMatching(/TLS error/) });
  });

  it('answers unreachable, saying so, for a registry that speaks plain HTTP', async () => {
    const plain = createHttpServer((_q, s) => s.writeHead(200).end());
    await new Promise<void>((resolve) => plain.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = plain.address() as AddressInfo;
      const { verdicts } = await verifier().verify([{ image: `127.0.0.1:${port}/a:1`, platforms: [] }]);
      expect(verdicts[0]).toMatchObject({ status: 'unreachable', reason: expect.stringMatching(/^TLS error with 127\.0\.0\.1:\d+ \(EPROTO: it does not answer in TLS; registries are checked over HTTPS only\)$/) });
    } finally {
      plain.closeAllConnections();
      await new Promise((resolve) => plain.close(resolve));
    }
  });

  it('answers unreachable when the name does not resolve', async () => {
    const lookup: LookupFunction = (hostname, _options, callback) => {
      callback(Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' }), '', 4);
    };
    const { verdicts } = await verifier({ http: { ca: registry.pki.ca, lookup } }).verify([{ image: 'mirror.invalid/a:1', platforms: [] }]);
    expect(verdicts[0]).toMatchObject({ status: 'unreachable', reason: expect.stringMatching(/cannot resolve mirror\.invalid/) });
  });

  it('answers unreachable when the connection is refused', async () => {
    const port = await freePort();
    const { verdicts } = await verifier().verify([{ image: `127.0.0.1:${port}/a:1`, platforms: [] }]);
    expect(verdicts[0]).toMatchObject({ status: 'unreachable', reason: expect.stringMatching(/connection refused/) });
  });

  it('a kept-alive connection the registry closed meanwhile (its idle timeout; a Lambda environment frozen past it): asked again on a new one, not unreachable', async () => {
    // The registry takes the second request of each connection and drops the connection, as one
    // that closed it idle does to a request that crossed the close.
    registry.fake.route = secondRequestDropped(0);
    const v = verifier();
    const first = await v.verify([{ image: `${registry.fake.host}/team/app:1.0`, platforms: [] }]);
    // Idle a moment: the first connection is back in Node's pool.
    await new Promise((resolve) => setTimeout(resolve, 50));
    const second = await v.verify([{ image: `${registry.fake.host}/team/app:2.0`, platforms: [] }]);
    expect([first.verdicts[0]?.status, second.verdicts[0]?.status]).toEqual(['present', 'present']);
    // The first connection's second request, then the new connection's.
    expect(registry.fake.seen).toHaveLength(3);
  });

  it('a reset on a new connection is not asked again: unreachable after one request', async () => {
    registry.fake.route = (q) => {
      q.socket.destroy();
    };
    const { verdicts } = await verifier().verify([{ image: `${registry.fake.host}/team/app:1.0`, platforms: [] }]);
    expect(verdicts[0]?.status).toBe('unreachable');
    expect(registry.fake.seen).toHaveLength(1);
  });

  it('two kept-alive connections the registry closed meanwhile: asked again on a new one, not on the other stale one', async () => {
    // Answered a moment later: the two first requests each take a connection.
    registry.fake.route = secondRequestDropped(20);
    const v = verifier();
    const first = await v.verify([{ image: `${registry.fake.host}/team/app:1.0`, platforms: [] }, { image: `${registry.fake.host}/team/app:1.1`, platforms: [] }]);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const second = await v.verify([{ image: `${registry.fake.host}/team/app:2.0`, platforms: [] }]);
    expect([...first.verdicts, ...second.verdicts].map((d) => d.status)).toEqual(['present', 'present', 'present']);
  });

  it('opens no connection for a request whose deadline passed before it was sent (a check cut while it read its credentials)', async () => {
    registry.fake.route = (_q, s) => s.writeHead(200).end();
    const agent = new CountingAgent({ keepAlive: true });
    try {
      const controller = new AbortController();
      controller.abort();
      const request = { method: 'HEAD' as const, url: new URL(`https://${registry.fake.host}/v2/team/app/manifests/1.0`), headers: {}, maxBodyBytes: 0, maxRedirects: 3, signal: controller.signal };
      await expect(send(request, { ca: registry.pki.ca, agent })).rejects.toMatchObject({ kind: 'timeout' });
      // Before: Node.js connected anyway, and dropped the connection at once.
      expect(agent.opened).toBe(0);
    } finally {
      agent.destroy();
    }
  });

  it('answers unreachable for an image it cannot parse', async () => {
    const { verdicts } = await verifier().verify([{ image: 'UPPER/Case', platforms: [] }]);
    expect(verdicts[0]).toMatchObject({ status: 'unreachable', reason: expect.stringMatching(/cannot check/) });
  });
});

describe('reviews at the same time', () => {
  it('share one request for the same target: a ReplicaSet\'s Pods do not each ask the registry', async () => {
    const v = verifier({ deadlineMs: 2000 });
    registry.fake.route = (_q, s) => setTimeout(() => s.writeHead(404).end(), 100);
    const image = `${registry.fake.host}/team/missing:1`;
    const results = await Promise.all(Array.from({ length: 8 }, () => v.verify([{ image, platforms: [] }])));
    expect(results.map((r) => r.verdicts[0]?.status)).toEqual(Array.from({ length: 8 }, () => 'missing'));
    expect(registry.fake.seen).toHaveLength(1);
  });

  it('a review that joins a check late settles by the check\'s deadline, within its own', async () => {
    const v = verifier({ deadlineMs: 300 });
    registry.fake.route = () => undefined;
    const image = `${registry.fake.host}/team/slow:1`;
    const first = v.verify([{ image, platforms: [] }]);
    await new Promise((resolve) => setTimeout(resolve, 150));
    const t0 = performance.now();
    const [a, b] = await Promise.all([first, v.verify([{ image, platforms: [] }])]);
    expect(performance.now() - t0).toBeLessThan(290);
    expect([a.verdicts[0]?.status, b.verdicts[0]?.status]).toEqual(['unreachable', 'unreachable']);
    expect(registry.fake.seen).toHaveLength(1);
  });
});

describe('a Pod of a thousand distinct images (anyone who may create Pods can send one)', () => {
  it('asks at most maxConcurrentChecks at once, the checks its deadline cuts while they wait open no connection, and those it cuts do not open the breaker for other reviews', async () => {
    const agent = new CountingAgent({ keepAlive: true });
    const v = verifier({ deadlineMs: 3000, http: { ca: registry.pki.ca, agent } });
    let open = 0;
    let most = 0;
    registry.fake.route = (_q, s) => {
      open++;
      most = Math.max(most, open);
      setTimeout(() => {
        open--;
        s.writeHead(200).end();
      }, 100);
    };
    try {
      const requests = Array.from({ length: 1000 }, (_, i) => ({ image: `${registry.fake.host}/team/app${i}:1`, platforms: [] }));
      const { verdicts } = await v.verify(requests);
      const openedByTheDeadline = agent.opened;
      // Before: every check at once, 51 to 63 of them open at the registry at a time here, their TLS
      // handshakes holding the event loop (with 2,000 images no check was answered by the deadline).
      // Now the rest wait for a slot, and those the deadline cuts while waiting, or just after they
      // asked, are no failure of the registry: its breaker stays closed for the next review.
      expect(most).toBeLessThanOrEqual(DEFAULTS.maxConcurrentChecks);
      const present = verdicts.filter((x) => x.status === 'present').length;
      expect(present).toBeGreaterThan(0);
      for (const x of verdicts) if (x.status !== 'present') expect(x).toMatchObject({ status: 'unreachable', reason: expect.stringMatching(/deadline/) });
      expect(registry.fake.seen.length).toBeLessThan(requests.length);
      // The checks the deadline cut may still be open at the registry (this process serves both
      // ends): let them end, so that the next check measures the breaker, not a starved event loop.
      for (const until = performance.now() + 20_000; open > 0 && performance.now() < until; ) await new Promise((resolve) => setTimeout(resolve, 20));
      // Before: each check cut in flight gave its slot to a waiting one whose own deadline timer had
      // not run yet, so every waiting check connected after the review had its answer, only to drop
      // the connection (about 800 of the thousand, seconds of the event loop on a loaded machine,
      // and the next check below missed its own deadline behind them).
      expect(agent.opened - openedByTheDeadline).toBe(0);
      const next = await v.verify([{ image: `${registry.fake.host}/team/other:1`, platforms: [] }]);
      expect(next.verdicts[0]?.status === 'present' ? 'present' : JSON.stringify(next.verdicts[0])).toBe('present');
    } finally {
      agent.destroy();
    }
  }, 30_000);
});

describe('check slots shared by reviews (serve: one process, many tenants)', () => {
  it('go to the reviews in turn: a review of many distinct targets does not make the next review wait for all of them', async () => {
    const v = verifier({ maxConcurrentChecks: 2, deadlineMs: 5000 });
    registry.fake.route = (_q, s) => {
      setTimeout(() => s.writeHead(200).end(), 20);
    };
    const many = v.verify(Array.from({ length: 40 }, (_, i) => ({ image: `${registry.fake.host}/team/a${i}:1`, platforms: [] })));
    // Once the first review's checks are asking and the rest wait for a slot.
    while (registry.fake.seen.length < 2) await new Promise((r) => setTimeout(r, 2));
    const next = await v.verify([{ image: `${registry.fake.host}/team/b:1`, platforms: [] }]);
    expect(next.verdicts[0]?.status).toBe('present');
    const position = registry.fake.seen.findIndex((r) => r.path === '/v2/team/b/manifests/1');
    // Before: first come, first served, so after all 40 of the first review's (position 40).
    // Now the next freed slot is its turn: after the 2 running and at most 2 more of the first review.
    expect(position).toBeGreaterThanOrEqual(0);
    expect(position).toBeLessThanOrEqual(4);
    expect((await many).verdicts.every((x) => x.status === 'present')).toBe(true);
  });
});

describe('a Pod of 20,000 distinct images to check', () => {
  it(`has ${MAX_CHECKS_PER_REVIEW} of them checked; the others are unreachable at once, and the heap stays small`, async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    // A registry that never answers: every check asked holds its promises and listeners to the deadline.
    const v = verifier({ deadlineMs: 300 });
    registry.fake.route = () => undefined;
    const rewriter = rewriterFrom(`rules:\n  - name: m\n    match: gcr.io\n    replace: ${registry.fake.host}/gcr\n    verify: true\n`);
    const containers = Array.from({ length: 20_000 }, (_, i) => ({ name: `c${i}`, image: `gcr.io/app${i}:1` }));
    const body = podReview({ metadata: { name: 'p' }, spec: { containers } });
    gc();
    const before = process.memoryUsage().heapUsed;
    let peak = 0;
    // What the review holds (collected first): the garbage between scavenges depends on the young
    // generation's size, which V8 sets per version (Node.js 24's is four times Node.js 20's), not on
    // what the checks keep until their deadline.
    const sampler = setInterval(() => {
      gc();
      peak = Math.max(peak, process.memoryUsage().heapUsed - before);
    }, 40);
    const result = await reviewVerified(body, rewriter, v);
    clearInterval(sampler);
    if (!result.ok) throw new Error(result.message);
    const reasons = (result.report.withheld ?? []).map((w) => w.reason);
    expect(reasons).toHaveLength(containers.length);
    expect(new Set(reasons.slice(MAX_CHECKS_PER_REVIEW))).toEqual(new Set([`not checked, not checked: the review has more than ${MAX_CHECKS_PER_REVIEW} distinct targets to check`]));
    for (const reason of reasons.slice(0, MAX_CHECKS_PER_REVIEW)) expect(reason).toMatch(/deadline/);
    expect(result.verify).toMatchObject({ checks: containers.length, errors: containers.length });
    expect(registry.fake.seen.length).toBeLessThanOrEqual(MAX_CHECKS_PER_REVIEW);
    // Before: every target asked, about 4 KB each to the deadline (90 MiB here; 210 MiB for a 2 MiB Pod of 50,000).
    console.log(`20,000 distinct images to check: ${(peak / 2 ** 20).toFixed(1)} MiB held at most`);
    expect(peak / 2 ** 20).toBeLessThan(45);
    // A check the deadline cut may still reach the registry after the review (this process serves
    // both ends, and the sampler's collections hold its event loop): let such requests arrive in
    // this test, not in the next one's count.
    for (let last = -1, until = performance.now() + 10_000; registry.fake.seen.length !== last && performance.now() < until; ) {
      last = registry.fake.seen.length;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }, 30_000);
});

describe('the circuit breaker', () => {
  it('opens after 3 failures, then lets one check through after openMs, and closes on success', async () => {
    let clock = 0;
    const v = verifier({ now: () => clock, breakerFailures: 3, breakerOpenMs: 1000 });
    registry.fake.route = (_q, s) => s.writeHead(500).end();
    for (let i = 0; i < 3; i++) await v.verify([{ image: `${registry.fake.host}/a:${i}`, platforms: [] }]);
    expect(registry.fake.seen).toHaveLength(3);
    const open = await v.verify([{ image: `${registry.fake.host}/a:open`, platforms: [] }]);
    expect(open.verdicts[0]).toMatchObject({ status: 'unreachable', reason: expect.stringMatching(/is failing/) });
    expect(registry.fake.seen).toHaveLength(3);
    clock = 1500;
    registry.fake.route = (_q, s) => s.writeHead(200).end();
    // Half-open: one check of the two goes through.
    const half = await v.verify([{ image: `${registry.fake.host}/a:x`, platforms: [] }, { image: `${registry.fake.host}/a:y`, platforms: [] }]);
    expect(half.verdicts.map((x) => x.status).sort()).toEqual(['present', 'unreachable']);
    expect(registry.fake.seen).toHaveLength(4);
    const closed = await v.verify([{ image: `${registry.fake.host}/a:z`, platforms: [] }]);
    expect(closed.verdicts[0]?.status).toBe('present');
  });

  it('does not count a check the deadline cut against a registry that answered other checks meanwhile', async () => {
    const v = verifier({ breakerFailures: 1, deadlineMs: 600 });
    registry.fake.route = (q, s) => {
      if (q.url?.includes('/hang/') !== true) setTimeout(() => s.writeHead(200).end(), 50);
    };
    const { verdicts } = await v.verify([
      { image: `${registry.fake.host}/hang/app:1`, platforms: [] },
      { image: `${registry.fake.host}/team/app:1`, platforms: [] },
    ]);
    expect(verdicts.map((x) => x.status)).toEqual(['unreachable', 'present']);
    // The review is answered at its deadline; the cut request settles (and is counted) just after.
    await new Promise((r) => setTimeout(r, 200));
    // Before, the cut check (600 ms after it was asked, past half the deadline) opened the breaker.
    const next = await v.verify([{ image: `${registry.fake.host}/team/other:1`, platforms: [] }]);
    expect(JSON.stringify(next.verdicts[0])).toContain('"present"');
  });

  it('counts failures in a row: an answer for one repository (403) between them starts the count again', async () => {
    const v = verifier({ breakerFailures: 2 });
    registry.fake.route = (q, s) => s.writeHead(q.url?.includes('/private/') === true ? 403 : 500).end();
    for (const image of ['team/app:1', 'private/app:1', 'team/app:2', 'team/app:3']) await v.verify([{ image: `${registry.fake.host}/${image}`, platforms: [] }]);
    expect(registry.fake.seen).toHaveLength(4);
  });

  it('does not count an answer too large to read against the registry: it answered, for that image', async () => {
    const v = verifier({ breakerFailures: 1 });
    registry.fake.route = (q, s) => {
      if (q.url?.includes('/huge/') !== true) return s.writeHead(200).end();
      s.writeHead(200, { 'content-length': String(64 * 1024 * 1024) });
      return s.end();
    };
    const huge = await v.verify([{ image: `${registry.fake.host}/huge/app:1`, platforms: ['linux/amd64'] }]);
    expect(huge.verdicts[0]).toMatchObject({ status: 'unreachable', reason: expect.stringMatching(/larger than/) });
    const next = await v.verify([{ image: `${registry.fake.host}/team/app:1`, platforms: [] }]);
    expect(next.verdicts[0]?.status).toBe('present');
  });

  it('still opens the breaker for a registry that answers nothing within the deadline', async () => {
    const v = verifier({ breakerFailures: 1, deadlineMs: 400 });
    registry.fake.route = () => undefined;
    const first = await v.verify([{ image: `${registry.fake.host}/hang/app:1`, platforms: [] }]);
    expect(first.verdicts[0]?.status).toBe('unreachable');
    // The review is answered at its deadline; the cut request settles (and is counted) just after.
    await new Promise((r) => setTimeout(r, 200));
    const next = await v.verify([{ image: `${registry.fake.host}/hang/app:2`, platforms: [] }]);
    expect(next.verdicts[0]).toMatchObject({ status: 'unreachable', reason: expect.stringMatching(/is failing/) });
  });

  it('opens the breaker for a check the deadline cut past half the deadline after it was asked (the registry had the time)', async () => {
    // The verifier's clock: the check is asked at 0; its request reaches the registry, which never
    // answers, at 70% of the deadline; the cut comes then (asked long enough ago to count).
    let clock = 0;
    const v = verifier({ breakerFailures: 1, deadlineMs: 400, now: () => clock });
    registry.fake.route = () => {
      clock = 280;
    };
    expect((await v.verify([{ image: `${registry.fake.host}/hang/app:1`, platforms: [] }])).verdicts[0]?.status).toBe('unreachable');
    await new Promise((r) => setTimeout(r, 200));
    const next = await v.verify([{ image: `${registry.fake.host}/hang/app:2`, platforms: [] }]);
    expect(next.verdicts[0]).toMatchObject({ status: 'unreachable', reason: expect.stringMatching(/is failing/) });
  });

  it('answers an open breaker at once, even while every check slot is held by slow checks of another registry', async () => {
    const v = verifier({ maxConcurrentChecks: 1, breakerFailures: 1, deadlineMs: 2000 });
    const dead = `127.0.0.1:${await freePort()}`;
    const first = await v.verify([{ image: `${dead}/a:1`, platforms: [] }]);
    expect(first.verdicts[0]).toMatchObject({ status: 'unreachable', reason: expect.stringMatching(/connection refused/) });
    let answer: (() => void) | undefined;
    registry.fake.route = (_q, s) => {
      answer = () => s.writeHead(200).end();
    };
    const slow = v.verify([{ image: `${registry.fake.host}/team/slow:1`, platforms: [] }]);
    while (answer === undefined) await new Promise((r) => setTimeout(r, 5));
    // The one slot is held by the slow check; before, this waited for it until the deadline.
    const open = await v.verify([{ image: `${dead}/a:2`, platforms: [] }]);
    answer();
    expect(open.verdicts[0]).toMatchObject({ status: 'unreachable', reason: expect.stringMatching(/is failing/) });
    expect((await slow).verdicts[0]?.status).toBe('present');
  });

  it('does not open on refusals: a private repository (401/403) does not cut the checks of the registry', async () => {
    const v = verifier({ breakerFailures: 3 });
    registry.fake.route = (q, s) => (q.url?.includes('/private/') === true ? s.writeHead(403).end() : s.writeHead(200).end());
    for (let i = 0; i < 4; i++) {
      const { verdicts } = await v.verify([{ image: `${registry.fake.host}/private/app:${i}`, platforms: [] }]);
      expect(verdicts[0]).toMatchObject({ status: 'unreachable', reason: expect.stringMatching(/refused access \(403\)/) });
    }
    const pub = await v.verify([{ image: `${registry.fake.host}/public/app:1`, platforms: [] }]);
    expect(pub.verdicts[0]?.status).toBe('present');
    expect(registry.fake.seen).toHaveLength(5);
  });

  it('does not open on unusable manifests: a registry that answered 200 for one repository is up for the others', async () => {
    // An image of a type the platform check cannot read (a Helm chart or another OCI artifact
    // named as an image, an image manifest without its config blob): unreachable, as before, but
    // three of them in a row opened the breaker, and every other image of that mirror was then
    // unreachable for 30 s (kept upstream, or denied, by onUnreachable).
    const v = verifier({ breakerFailures: 3 });
    const image = { mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { digest: 'sha256:cc' } };
    registry.fake.route = (q, s) => {
      if (q.url?.includes('/artifact/') === true) return s.writeHead(200, { 'content-type': 'application/vnd.cncf.helm.chart.v1+json' }).end('{}');
      if (q.url?.includes('/blobs/') === true) return s.writeHead(404).end();
      if (q.url?.includes('/noconfig/') === true) return s.writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json' }).end(JSON.stringify({ ...image, config: {} }));
      return s.writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json' }).end(JSON.stringify(image));
    };
    for (let i = 0; i < 4; i++) {
      const { verdicts } = await v.verify([{ image: `${registry.fake.host}/artifact/chart:${i}`, platforms: ['linux/amd64'] }]);
      expect(verdicts[0]).toMatchObject({ status: 'unreachable', reason: expect.stringMatching(/not an OCI or Docker manifest/) });
    }
    for (let i = 0; i < 4; i++) {
      const { verdicts } = await v.verify([{ image: `${registry.fake.host}/broken/app:${i}`, platforms: ['linux/amd64'] }]);
      expect(verdicts[0]).toMatchObject({ status: 'unreachable', reason: expect.stringMatching(/lacks the config blob/) });
    }
    for (let i = 0; i < 4; i++) {
      const { verdicts } = await v.verify([{ image: `${registry.fake.host}/noconfig/app:${i}`, platforms: ['linux/amd64'] }]);
      expect(verdicts[0]).toMatchObject({ status: 'unreachable', reason: expect.stringMatching(/a manifest without a config$/) });
    }
    const seen = registry.fake.seen.length;
    const next = await v.verify([{ image: `${registry.fake.host}/public/app:1`, platforms: [] }]);
    expect(next.verdicts[0]?.status === 'present' ? 'present' : JSON.stringify(next.verdicts[0])).toBe('present');
    expect(registry.fake.seen.length).toBe(seen + 1);
  });

  // QA-43: a registry storing blobs in S3 or MinIO redirects blob GETs to the storage's URL, plain
  // http inside a cluster; the check does not follow it (HTTPS only), and three such platform checks
  // opened the breaker: every other image of a registry that answered each request was unreachable.
  it('does not open on a config blob it cannot follow (a storage redirect to plain http)', async () => {
    const v = verifier({ breakerFailures: 3 });
    const image = { mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { digest: 'sha256:cc' } };
    registry.fake.route = (q, s) => {
      if (q.url?.includes('/blobs/') === true) return s.writeHead(307, { location: `http://127.0.0.1:9${q.url}` }).end();
      return s.writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json' }).end(JSON.stringify(image));
    };
    for (let i = 0; i < 4; i++) {
      const { verdicts } = await v.verify([{ image: `${registry.fake.host}/single/app:${i}`, platforms: ['linux/amd64'] }]);
      expect(verdicts[0]).toMatchObject({ status: 'unreachable', reason: expect.stringMatching(/^the config blob of a manifest 127\.0\.0\.1:\d+ has: refusing to call 127\.0\.0\.1:9 over http/) });
    }
    const next = await v.verify([{ image: `${registry.fake.host}/other/app:1`, platforms: [] }]);
    expect(next.verdicts[0]?.status === 'present' ? 'present' : JSON.stringify(next.verdicts[0])).toBe('present');
  });

  it('opens again when the half-open check fails', async () => {
    let clock = 0;
    const v = verifier({ now: () => clock, breakerFailures: 1, breakerOpenMs: 1000 });
    registry.fake.route = (_q, s) => s.writeHead(502).end();
    await v.verify([{ image: `${registry.fake.host}/a:1`, platforms: [] }]);
    clock = 1001;
    await v.verify([{ image: `${registry.fake.host}/a:2`, platforms: [] }]);
    expect(registry.fake.seen).toHaveLength(2);
    const again = await v.verify([{ image: `${registry.fake.host}/a:3`, platforms: [] }]);
    expect(again.verdicts[0]).toMatchObject({ reason: expect.stringMatching(/is failing/) });
    expect(registry.fake.seen).toHaveLength(2);
  });
});

describe('huge and malformed answers', () => {
  const wantPlatforms = ['linux/amd64'];
  it.each<[string, Route, RegExp]>([
    ['a body over 4 MiB', (_q, s) => {
      s.writeHead(200, { 'content-type': 'application/vnd.oci.image.index.v1+json' });
      const chunk = Buffer.alloc(1024 * 1024, 0x20);
      for (let i = 0; i < 5; i++) s.write(chunk);
      s.end();
    }, /larger than/],
    ['a declared Content-Length over 4 MiB', (_q, s) => {
      s.writeHead(200, { 'content-length': String(64 * 1024 * 1024) });
      s.write('{');
    }, /larger than/],
    ['a manifest that is not JSON', (_q, s) => s.writeHead(200, { 'content-type': 'application/vnd.oci.image.index.v1+json' }).end('{"manifests": ['), /not an OCI or Docker manifest/],
    ['an index whose manifests is not a list', (_q, s) => s.writeHead(200).end('{"mediaType":"application/vnd.oci.image.index.v1+json","manifests":7}'), /not an OCI or Docker manifest/],
    ['a manifest without config', (_q, s) => s.writeHead(200).end('{"schemaVersion":2,"config":{"size":1}}'), /without a config/],
  ])('%s is unreachable, not a crash', async (_what, route, reason) => {
    const v = await one(route, undefined, {}, wantPlatforms);
    expect(v).toMatchObject({ status: 'unreachable', reason: expect.stringMatching(reason) });
  });

  it('an index lacking a wanted platform is missing', async () => {
    const v = await one((_q, s) => s.writeHead(200).end(INDEX), undefined, {}, ['linux/amd64', 'linux/arm64']);
    expect(v).toMatchObject({ status: 'missing', reason: expect.stringMatching(/lacks platform linux\/arm64/) });
    expect(registry.fake.seen[0]?.method).toBe('GET');
  });

  it('a single image is checked through its config blob', async () => {
    const manifest = JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { digest: 'sha256:cc', size: 1 } });
    const route: Route = (q, s) => (q.url?.includes('/blobs/') === true ? s.writeHead(200).end('{"os":"linux","architecture":"arm64"}') : s.writeHead(200).end(manifest));
    expect(await one(route, undefined, {}, ['linux/arm64/v8'])).toMatchObject({ status: 'present' });
    expect(await one(route, undefined, {}, ['linux/amd64'])).toMatchObject({ status: 'missing' });
    const noBlob: Route = (q, s) => (q.url?.includes('/blobs/') === true ? s.writeHead(404).end() : s.writeHead(200).end(manifest));
    expect(await one(noBlob, undefined, {}, ['linux/amd64'])).toMatchObject({ status: 'unreachable', reason: expect.stringMatching(/config blob/) });
  });

  it('a single Windows image is checked for its build through the os.version of its config blob', async () => {
    const manifest = JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { digest: 'sha256:cc', size: 1 } });
    const config = JSON.stringify({ os: 'windows', architecture: 'amd64', 'os.version': '10.0.17763.6414' });
    const route: Route = (q, s) => (q.url?.includes('/blobs/') === true ? s.writeHead(200).end(config) : s.writeHead(200).end(manifest));
    expect(await one(route, undefined, {}, ['windows/amd64', 'windows(10.0.17763)/amd64'])).toMatchObject({ status: 'present' });
    expect(await one(route, undefined, {}, ['windows(10.0.20348)/amd64'])).toMatchObject({
      status: 'missing',
      reason: expect.stringMatching(/\(its windows\/amd64 builds: 10\.0\.17763\.6414\) lacks platform windows\(10\.0\.20348\)\/amd64$/),
    });
  });
});

describe('the token flow', () => {
  const challenge = (realm: string): Record<string, string> => ({ 'www-authenticate': `Bearer realm="${realm}",service="fake",scope="repository:team/app:pull"` });
  const withToken = (token: Route): Route => (q, s, url) => {
    if (url.pathname === '/token') {
      token(q, s, url);
      return;
    }
    if (q.headers.authorization === 'Bearer good') s.writeHead(200).end();
    else s.writeHead(401, challenge(`https://${registry.fake.host}/token`)).end();
  };

  it('gets an anonymous token and retries with it', async () => {
    const v = await one(withToken((_q, s) => s.writeHead(200).end('{"token":"good","expires_in":60}')));
    expect(v.status).toBe('present');
    expect(registry.fake.seen.map((r) => r.path)).toEqual(['/v2/team/app/manifests/1.0', '/token?service=fake&scope=repository%3Ateam%2Fapp%3Apull', '/v2/team/app/manifests/1.0']);
    expect(registry.fake.seen[1]?.authorization).toBeUndefined();
  });

  it('sends the credentials to the token service as basic auth', async () => {
    const credentials = (): Promise<CredentialLookup> => Promise.resolve({ credentials: { username: 'u', password: 'p' } });
    const v = await one(withToken((_q, s) => s.writeHead(200).end('{"access_token":"good"}')), undefined, { credentials });
    expect(v.status).toBe('present');
    expect(registry.fake.seen[1]?.authorization).toBe(`Basic ${Buffer.from('u:p').toString('base64')}`);
  });

  it('answers the Bearer challenge of a 401 that also offers Basic (two WWW-Authenticate headers)', async () => {
    const v = await one((q, s, url) => {
      if (url.pathname === '/token') {
        s.writeHead(200).end('{"token":"good"}');
        return;
      }
      if (q.headers.authorization === 'Bearer good') {
        s.writeHead(200).end();
        return;
      }
      s.setHeader('www-authenticate', ['Basic realm="r"', `Bearer realm="https://${registry.fake.host}/token",service="fake"`]);
      s.writeHead(401).end();
    });
    expect(v.status).toBe('present');
  });

  it('uses basic auth when the registry asks for it', async () => {
    const credentials = (): Promise<CredentialLookup> => Promise.resolve({ credentials: { username: 'u', password: 'p' } });
    const v = await one((q, s) => (q.headers.authorization?.startsWith('Basic ') === true ? s.writeHead(200).end() : s.writeHead(401, { 'www-authenticate': 'Basic realm="r"' }).end()), undefined, { credentials });
    expect(v.status).toBe('present');
  });

  it('says a refusal of the credentials sent ahead was of the credentials; asks anonymously once the credentials are gone', async () => {
    let entry: CredentialLookup = { credentials: { username: 'u', password: 'p' } };
    const v = verifier({ credentials: () => Promise.resolve(entry) });
    const basicUp = `Basic ${Buffer.from('u:p').toString('base64')}`;
    registry.fake.route = (q, s) => {
      if (q.headers.authorization !== basicUp) s.writeHead(401, { 'www-authenticate': 'Basic realm="r"' }).end();
      else s.writeHead(q.url?.includes('/private/') === true ? 403 : 200).end();
    };
    expect((await v.verify([{ image: `${registry.fake.host}/team/app:1`, platforms: [] }])).verdicts[0]?.status).toBe('present');
    // Sent ahead, refused: the account may not pull that repository.
    expect((await v.verify([{ image: `${registry.fake.host}/private/app:1`, platforms: [] }])).verdicts[0]).toMatchObject({
      status: 'unreachable',
      reason: expect.stringMatching(/^127\.0\.0\.1:\d+ refused access \(403\) with the registry credentials for 127\.0\.0\.1:\d+: wrong, or without pull access$/),
    });
    // The secret no longer has the host (rotated): an anonymous request, refused as such.
    entry = { credentials: undefined };
    registry.fake.seen.length = 0;
    expect((await v.verify([{ image: `${registry.fake.host}/team/app:2`, platforms: [] }])).verdicts[0]).toMatchObject({
      status: 'unreachable',
      reason: expect.stringMatching(/^127\.0\.0\.1:\d+ refused access \(401\) to an anonymous request: no registry credentials for 127\.0\.0\.1:\d+$/),
    });
    expect(registry.fake.seen.map((r) => r.authorization)).toEqual([undefined]);
  });

  it('leaves a first answer of 403 as it is (nothing was sent), and knows a web page in any case', async () => {
    expect(await one((_q, s) => s.writeHead(403).end())).toMatchObject({ status: 'unreachable', reason: expect.stringMatching(/^127\.0\.0\.1:\d+ refused access \(403\)$/) });
    expect(await one((_q, s) => s.writeHead(200, { 'content-type': 'Text/HTML; charset=UTF-8' }).end('<html></html>'))).toMatchObject({ status: 'unreachable', reason: expect.stringMatching(/answered a web page \(text\/html\)/) });
    // Any text, not only HTML: a catch-all answering `OK` is no registry.
    expect(await one((_q, s) => s.writeHead(200, { 'content-type': 'text/plain' }).end('OK'))).toMatchObject({ status: 'unreachable', reason: expect.stringMatching(/answered a web page \(text\/plain\), not a manifest$/) });
    // A GET (platforms wanted) answered 405 is the answer: not asked again.
    registry.fake.seen.length = 0;
    expect(await one((_q, s) => s.writeHead(405).end(), undefined, {}, ['linux/amd64'])).toMatchObject({ status: 'unreachable', reason: expect.stringMatching(/answered 405$/) });
    expect(registry.fake.seen.map((r) => r.method)).toEqual(['GET']);
  });

  // QA-24: against the real registry with htpasswd, every check cost two requests (an anonymous
  // HEAD answered 401 Basic, then the HEAD with the credentials), each check again; containerd
  // answers a host's Basic challenge once and sends the credentials with its next requests there.
  it('sends the credentials at once to a registry that asked for Basic before: one request per check', async () => {
    const credentials = (): Promise<CredentialLookup> => Promise.resolve({ credentials: { username: 'u', password: 'p' } });
    const v = verifier({ credentials });
    registry.fake.route = (q, s) => (q.headers.authorization === `Basic ${Buffer.from('u:p').toString('base64')}` ? s.writeHead(q.url?.includes('gone') === true ? 404 : 200).end() : s.writeHead(401, { 'www-authenticate': 'Basic realm="r"' }).end());
    const first = await v.verify([{ image: `${registry.fake.host}/team/app:1`, platforms: [] }]);
    expect(first.verdicts[0]?.status).toBe('present');
    expect(registry.fake.seen).toHaveLength(2);
    registry.fake.seen.length = 0;
    const next = await v.verify([{ image: `${registry.fake.host}/other/app:2`, platforms: [] }, { image: `${registry.fake.host}/team/gone:3`, platforms: [] }]);
    expect(next.verdicts.map((x) => x.status)).toEqual(['present', 'missing']);
    expect(registry.fake.seen.map((r) => r.authorization?.slice(0, 6))).toEqual(['Basic ', 'Basic ']);
    // Without credentials for it, nothing is sent ahead: the anonymous request as before.
    registry.fake.seen.length = 0;
    const anonymousOnly = await verifier({ credentials: anonymous }).verify([{ image: `${registry.fake.host}/team/app:4`, platforms: [] }]);
    expect(anonymousOnly.verdicts[0]?.status).toBe('unreachable');
    expect(registry.fake.seen.map((r) => r.authorization)).toEqual([undefined]);
  });

  it.each<[string, Route, RegExp]>([
    ['a token service that refuses', (_q, s) => s.writeHead(401).end(), /refused the anonymous request/],
    ['a token service that forbids', (_q, s) => s.writeHead(403).end(), /refused the anonymous request \(403\)/],
    ['a token service that fails', (_q, s) => s.writeHead(500).end(), /answered 500/],
    ['a token that is not JSON', (_q, s) => s.writeHead(200).end('<html>'), /not JSON/],
    ['a token answer without a token', (_q, s) => s.writeHead(200).end('{"expires_in":60}'), /without a token/],
    ['a huge token answer', (_q, s) => s.writeHead(200).end(`{"token":"${'x'.repeat(70_000)}"}`), /larger than/],
  ])('%s is unreachable', async (_what, token, reason) => {
    const v = await one(withToken(token));
    expect(v).toMatchObject({ status: 'unreachable', reason: expect.stringMatching(reason) });
  });

  it('a token service that refuses is a refusal: it says why when the credentials could not be read, and does not open the breaker', async () => {
    const credentials = (): Promise<CredentialLookup> => Promise.resolve({ credentials: undefined, unavailable: 'cannot read secret s (AccessDeniedException)' });
    const v = verifier({ credentials, breakerFailures: 3 });
    registry.fake.route = withToken((q, s) => (q.url?.includes('private') === true ? s.writeHead(401).end() : s.writeHead(200).end('{"token":"good"}')));
    for (let i = 0; i < 4; i++) {
      const { verdicts } = await v.verify([{ image: `${registry.fake.host}/private/app:${i}`, platforms: [] }]);
      expect(verdicts[0]).toMatchObject({ status: 'unreachable', reason: expect.stringMatching(/refused the anonymous request \(401\); registry credentials unavailable: cannot read secret s/) });
    }
    const pub = await v.verify([{ image: `${registry.fake.host}/public/app:1`, platforms: [] }]);
    expect(pub.verdicts[0]?.status).toBe('present');
  });

  // QA-24: with a Bearer registry (Docker Hub, GHCR, Harbor) the check waited for the credentials
  // until its deadline, then asked the token service with the signal already aborted: "no answer
  // from HOST within the deadline", counted against the registry; a Pod of 3 images at a cold start
  // whose credentials read is slow opened the breaker of a registry that had answered each at once.
  it('a credentials read still going at the deadline is no failure of the registry, and says so', async () => {
    const credentials = (_registry: string, signal: AbortSignal): Promise<CredentialLookup> =>
      new Promise((resolve) => {
        signal.addEventListener('abort', () => {
          resolve({ credentials: undefined, unavailable: 'secret s is still being read' });
        }, { once: true });
      });
    const v = verifier({ credentials, deadlineMs: 300, breakerFailures: 3 });
    registry.fake.route = withToken((_q, s) => s.writeHead(200).end('{"token":"good"}'));
    const slow = await v.verify([1, 2, 3, 4].map((n) => ({ image: `${registry.fake.host}/team/app:${n}`, platforms: [] })));
    for (const verdict of slow.verdicts) expect(verdict).toMatchObject({ status: 'unreachable', reason: expect.stringMatching(/^no answer within the 300 ms deadline$|the deadline passed while the registry credentials were read; registry credentials unavailable: secret s is still being read$/) });
    // The registry is asked again at once (its breaker stayed closed), and the token service is
    // never asked with a request the deadline had already cut.
    expect(registry.fake.seen.filter((r) => r.path.startsWith('/token'))).toHaveLength(0);
    registry.fake.seen.length = 0;
    // A new verifier, the helper's 3 s deadline: the token flow's three requests took past 300 ms on a loaded machine.
    const after = await verifier().verify([{ image: `${registry.fake.host}/team/app:5`, platforms: [] }]);
    expect(after.verdicts[0]?.status).toBe('present');
    const same = await v.verify([{ image: `${registry.fake.host}/team/app:6`, platforms: [] }]);
    expect(same.verdicts[0]).not.toMatchObject({ reason: expect.stringMatching(/is failing/) });
    expect(registry.fake.seen.some((r) => r.path === '/v2/team/app/manifests/6')).toBe(true);
  });

  it('keeps a token whose expires_in is 0 for the default 60 s: the next check of the repository uses it', async () => {
    const v = verifier();
    registry.fake.route = withToken((_q, s) => s.writeHead(200).end('{"token":"good","expires_in":0}'));
    for (const tag of ['1.0', '2.0']) await v.verify([{ image: `${registry.fake.host}/team/app:${tag}`, platforms: [] }]);
    expect(registry.fake.seen.filter((r) => r.path.startsWith('/token'))).toHaveLength(1);
  });

  it.each([
    ['60 s: until 5 s before it expires', 60, 55_000],
    ['two hours: for an hour at most, less the 5 s', 7200, 3_595_000],
  ])('keeps a token whose expires_in is %s', async (_what, expiresIn, keptMs) => {
    let clock = 0;
    const v = verifier({ now: () => clock });
    registry.fake.route = withToken((_q, s) => s.writeHead(200).end(JSON.stringify({ token: 'good', expires_in: expiresIn })));
    const tokens = (): number => registry.fake.seen.filter((r) => r.path.startsWith('/token')).length;
    const check = async (tag: string): Promise<void> => {
      expect((await v.verify([{ image: `${registry.fake.host}/team/app:${tag}`, platforms: [] }])).verdicts[0]?.status).toBe('present');
    };
    await check('1');
    clock = keptMs - 1;
    await check('2');
    expect(tokens()).toBe(1);
    clock = keptMs;
    await check('3');
    expect(tokens()).toBe(2);
  });

  it('a challenge without a realm, or with an invalid one, is unreachable', async () => {
    const noRealm = await one((_q, s) => s.writeHead(401, { 'www-authenticate': 'Bearer service="x"' }).end());
    expect(noRealm).toMatchObject({ status: 'unreachable', reason: expect.stringMatching(/without a realm/) });
    const badRealm = await one((_q, s) => s.writeHead(401, { 'www-authenticate': 'Bearer realm="::not a url"' }).end());
    expect(badRealm).toMatchObject({ status: 'unreachable', reason: expect.stringMatching(/invalid token realm/) });
  });

  // The realm is the registry's to name: a plain-http one would carry the registry credentials in
  // clear to any address (docs/security.md, "Registries"). Nothing is sent to it, with or without them.
  it('a token realm on plain http gets no request, so the credentials never travel in clear', async () => {
    const seen: string[] = [];
    const plain = createHttpServer((q, s) => {
      seen.push(`${q.url ?? ''} ${q.headers.authorization ?? '-'}`);
      s.writeHead(200, { 'content-type': 'application/json' }).end('{"token":"t"}');
    });
    await new Promise<void>((resolve) => plain.listen(0, '127.0.0.1', resolve));
    const { port } = plain.address() as AddressInfo;
    try {
      const route: Route = (q, s) => (q.headers.authorization === 'Bearer t' ? s.writeHead(200).end() : s.writeHead(401, { 'www-authenticate': `Bearer realm="http://127.0.0.1:${port}/token",service="x"` }).end());
      const credentials = (): Promise<CredentialLookup> => Promise.resolve({ credentials: { username: 'u', password: 'secret' } });
      for (const extra of [{ credentials }, {}]) {
        expect(await one(route, undefined, extra)).toMatchObject({ status: 'unreachable', reason: expect.stringMatching(new RegExp(`refusing to call 127\\.0\\.0\\.1:${port} over http`)) });
      }
      expect(seen).toEqual([]);
    } finally {
      await new Promise<void>((resolve) => plain.close(() => { resolve(); }));
    }
  });

  it('says when the credentials could not be read (a cold function whose secret is unreadable)', async () => {
    const credentials = (): Promise<CredentialLookup> => Promise.resolve({ credentials: undefined, unavailable: 'cannot read secret s (AccessDeniedException)' });
    const v = await one((_q, s) => s.writeHead(401, { 'www-authenticate': 'Basic realm="r"' }).end(), undefined, { credentials });
    expect(v).toMatchObject({ status: 'unreachable', reason: expect.stringMatching(/registry credentials unavailable: cannot read secret s \(AccessDeniedException\)/) });
  });

  // QA-24: against the real registry (htpasswd), no credentials, wrong ones and ones filed under
  // another host all read "HOST refused access (401)": the operator could not tell a password the
  // registry refuses from an entry the lookup never found (a host key written otherwise).
  it('says whether a refusal answered the registry credentials or an anonymous request', async () => {
    const basicOnly: Route = (_q, s) => s.writeHead(401, { 'www-authenticate': 'Basic realm="r"' }).end();
    const wrong = (): Promise<CredentialLookup> => Promise.resolve({ credentials: { username: 'u', password: 'wrong' } });
    const none = (): Promise<CredentialLookup> => Promise.resolve({ credentials: undefined });
    expect(await one(basicOnly, undefined, { credentials: wrong })).toMatchObject({ status: 'unreachable', reason: expect.stringMatching(/^127\.0\.0\.1:\d+ refused access \(401\) with the registry credentials for 127\.0\.0\.1:\d+: wrong, or without pull access$/) });
    expect(await one(basicOnly, undefined, { credentials: none })).toMatchObject({ status: 'unreachable', reason: expect.stringMatching(/^127\.0\.0\.1:\d+ refused access \(401\) to an anonymous request: no registry credentials for 127\.0\.0\.1:\d+$/) });
    // The credentials could not be read: that is the cause said, not that there are none for the host.
    const unreadable = (): Promise<CredentialLookup> => Promise.resolve({ credentials: undefined, unavailable: 'cannot read secret s (AccessDeniedException)' });
    expect(await one(basicOnly, undefined, { credentials: unreadable })).toMatchObject({ status: 'unreachable', reason: expect.stringMatching(/^127\.0\.0\.1:\d+ refused access \(401\) to an anonymous request; registry credentials unavailable: cannot read secret s \(AccessDeniedException\)$/) });
    // A token got with the credentials, which the registry then refuses (the account may not pull).
    const bearerRefused: Route = (q, s) => {
      if (q.url?.startsWith('/token') === true) s.writeHead(200).end('{"token":"t"}');
      else if (q.headers.authorization === 'Bearer t') s.writeHead(403).end();
      else s.writeHead(401, { 'www-authenticate': `Bearer realm="https://${registry.fake.host}/token"` }).end();
    };
    expect(await one(bearerRefused, undefined, { credentials: wrong })).toMatchObject({ status: 'unreachable', reason: expect.stringMatching(/refused access \(403\) with the registry credentials for 127\.0\.0\.1:\d+: wrong, or without pull access$/) });
    // An anonymous token, which the registry then refuses (a private repository): no credentials were sent.
    expect(await one(bearerRefused, undefined, { credentials: none })).toMatchObject({ status: 'unreachable', reason: expect.stringMatching(/^127\.0\.0\.1:\d+ refused access \(403\) to an anonymous request: no registry credentials for 127\.0\.0\.1:\d+$/) });
  });

  // QA-43: a 401 without a challenge (a proxy that drops WWW-Authenticate) or with one no credentials
  // answer (Negotiate) read "no registry credentials for HOST" though the secret had the host's entry.
  it('says when a refusal came with no challenge the credentials could answer, not that there are none', async () => {
    const found = (): Promise<CredentialLookup> => Promise.resolve({ credentials: { username: 'u', password: 'p' } });
    const bare = await one((_q, s) => s.writeHead(401).end(), undefined, { credentials: found });
    expect(bare).toMatchObject({ status: 'unreachable', reason: expect.stringMatching(/^127\.0\.0\.1:\d+ refused access \(401\) to an anonymous request: 127\.0\.0\.1:\d+ asked for no Bearer or Basic authentication \(challenge: none\)$/) });
    const negotiate = await one((_q, s) => s.writeHead(401, { 'www-authenticate': 'Negotiate' }).end(), undefined, { credentials: found });
    expect(negotiate).toMatchObject({ status: 'unreachable', reason: expect.stringMatching(/\(challenge: negotiate\)$/) });
    // A challenge of any length is named by its first 40 characters.
    const long = await one((_q, s) => s.writeHead(401, { 'www-authenticate': `X${'y'.repeat(500)}` }).end(), undefined, { credentials: found });
    expect(long).toMatchObject({ status: 'unreachable', reason: expect.stringMatching(new RegExp(`\\(challenge: x${'y'.repeat(39)}\\)$`)) });
  });
});

describe('a registry that redirects to another host (registry.k8s.io sends manifest requests to Artifact Registry)', () => {
  const basicOf = (user: string, password: string): string => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

  it("answers that host's own challenge, with its own credentials (never the registry's), and asks it again directly", async () => {
    const other = await startFakeRegistry(registry.pki);
    try {
      other.route = (q, s, url) => {
        if (url.pathname === '/token') s.writeHead(200).end('{"token":"theirs","expires_in":300}');
        else if (q.headers.authorization === 'Bearer theirs') s.writeHead(200, { 'content-type': 'application/vnd.oci.image.index.v1+json' }).end();
        else s.writeHead(401, { 'www-authenticate': `Bearer realm="https://${other.host}/token",service="other"` }).end();
      };
      // Credentials for the registry only, as a secret keyed by host gives them.
      const credentials = (host: string): Promise<CredentialLookup> => Promise.resolve({ credentials: host === registry.fake.host ? { username: 'u', password: 'secret' } : undefined });
      registry.fake.route = (q, s) => s.writeHead(307, { location: `https://${other.host}${(q.url ?? '').replace('/v2/', '/v2/k8s-artifacts-prod/images/')}` }).end();
      const v = verifier({ credentials });
      const first = await v.verify([{ image: `${registry.fake.host}/pause:3.9`, platforms: [] }]);
      expect(first.verdicts).toEqual([{ status: 'present', cached: false }]);
      expect(other.seen.map((r) => `${r.method} ${r.path} ${r.authorization ?? '-'}`)).toEqual([
        'HEAD /v2/k8s-artifacts-prod/images/pause/manifests/3.9 -',
        'GET /token?service=other&scope=repository%3Ak8s-artifacts-prod%2Fimages%2Fpause%3Apull -',
        'HEAD /v2/k8s-artifacts-prod/images/pause/manifests/3.9 Bearer theirs',
      ]);
      // Its token is kept for that host and repository: the next check asks no token.
      other.seen.length = 0;
      await v.verify([{ image: `${registry.fake.host}/pause:3.10`, platforms: [] }]);
      expect(other.seen.map((r) => `${r.path} ${r.authorization ?? '-'}`)).toEqual(['/v2/k8s-artifacts-prod/images/pause/manifests/3.10 -', '/v2/k8s-artifacts-prod/images/pause/manifests/3.10 Bearer theirs']);
      expect(other.seen.every((r) => r.authorization !== basicOf('u', 'secret'))).toBe(true);
    } finally {
      await other.stop();
    }
  });

  it("is a refusal when that host's token service refuses, and never opens the registry's breaker", async () => {
    const other = await startFakeRegistry(registry.pki);
    try {
      other.route = (_q, s, url) => {
        if (url.pathname === '/token') s.writeHead(401).end();
        else s.writeHead(401, { 'www-authenticate': `Bearer realm="https://${other.host}/token",service="other"` }).end();
      };
      const credentials = (): Promise<CredentialLookup> => Promise.resolve({ credentials: undefined });
      registry.fake.route = (q, s) => s.writeHead(307, { location: `https://${other.host}${q.url ?? ''}` }).end();
      const v = verifier({ credentials });
      for (let i = 0; i < 4; i++) {
        const { verdicts } = await v.verify([{ image: `${registry.fake.host}/team/app:${String(i)}`, platforms: [] }]);
        expect(verdicts[0]).toMatchObject({ status: 'unreachable', reason: expect.stringMatching(/token service 127\.0\.0\.1:\d+ refused the anonymous request \(401\)/) });
      }
    } finally {
      await other.stop();
    }
  });
});
