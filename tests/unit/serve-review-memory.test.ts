/**
 * The memory of the reviews `serve` handles at once (src/serve/review-memory.ts) and each worker's
 * heap from its container's memory limit (src/cli/memory-limit.ts): docs/reliability.md, "Memory
 * under large reviews".
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cgroupMemoryLimit, heapSizeGiven, MIN_WORKER_OLD_SPACE_MIB, workerHeapArgs, workerOldSpaceMib } from '../../src/cli/memory-limit.js';
import { REVIEW_MEMORY_PER_BODY_BYTE, ReviewMemory, SMALL_REVIEW_BYTES } from '../../src/serve/review-memory.js';
import { podReview } from '../helpers/admission-review.js';
import { bundleCliSplit } from '../helpers/cli-bundle.js';
import type { ProxyHandler } from '../../src/serve/server.js';
import { recorder, startOkServer } from '../helpers/serve.js';
import { withServe } from '../helpers/serve-process.js';
import { createTestPki, httpsRequest, type TestPki } from '../helpers/tls.js';

const MIB = 1024 * 1024;
const never = (): void => undefined;
const LARGE = SMALL_REVIEW_BYTES + 1;

describe('ReviewMemory', () => {
  it('lets a large review run at once when it fits or no other large one is held, and holds the next until there is room', async () => {
    const memory = new ReviewMemory(LARGE * REVIEW_MEMORY_PER_BODY_BYTE * 1.5);
    const first = await memory.take(LARGE, 10_000, never);
    expect(first).toBeDefined();
    const order: string[] = [];
    const second = memory.take(LARGE, 10_000, never).then((r) => { order.push('second'); return r; });
    const third = memory.take(LARGE, 10_000, never).then((r) => { order.push('third'); return r; });
    await new Promise((r) => setTimeout(r, 20));
    expect(order).toEqual([]);
    expect(memory.waiting).toBe(2);
    first?.();
    first?.(); // given back once only
    (await second)?.();
    (await third)?.();
    expect(order).toEqual(['second', 'third']);
    expect(memory.held).toBe(0);
  });

  it('never holds a small review, but charges it: a large one then waits for it', async () => {
    const memory = new ReviewMemory(LARGE * REVIEW_MEMORY_PER_BODY_BYTE);
    const large = await memory.take(LARGE, 10_000, never);
    const smalls = await Promise.all(Array.from({ length: 50 }, () => memory.take(4096, 1, never)));
    expect(smalls.every((s) => s !== undefined)).toBe(true);
    large?.();
    let next = false;
    const waiting = memory.take(LARGE, 10_000, never).then((r) => { next = true; return r; });
    await new Promise((r) => setTimeout(r, 20));
    // No large review is held, so it goes however much the small ones hold.
    expect(next).toBe(true);
    (await waiting)?.();
    for (const s of smalls) s?.();
    expect(memory.held).toBe(0);
  });

  it('gives up after the wait, or when the client goes away, and the reviews behind it go on', async () => {
    const memory = new ReviewMemory(LARGE * REVIEW_MEMORY_PER_BODY_BYTE);
    const held = await memory.take(LARGE, 10_000, never);
    expect(await memory.take(LARGE, 30, never)).toBeUndefined();
    let cancel = never;
    const gone = memory.take(LARGE, 10_000, (c) => { cancel = c; });
    cancel();
    expect(await gone).toBeUndefined();
    expect(memory.waiting).toBe(0);
    held?.();
    expect(memory.held).toBe(0);
  });
});

describe('startServer with a review memory budget', () => {
  let pki: TestPki;
  beforeAll(async () => {
    pki = await createTestPki();
  });
  afterAll(async () => {
    await pki.remove();
  });

  /** A handler that records when each call starts and ends, answering after `ms`. */
  const slow = (ms: number, calls: string[]): ProxyHandler => async (event) => {
    calls.push(`start ${String(event.body?.length)}`);
    await new Promise((r) => setTimeout(r, ms));
    calls.push(`end ${String(event.body?.length)}`);
    return { statusCode: 200, headers: { 'content-type': 'application/json' }, body: '{}' };
  };

  it('runs two large reviews one after the other, announced or chunked, and small ones beside them', async () => {
    const calls: string[] = [];
    const server = await startOkServer(pki, { handler: slow(150, calls), reviewMemoryBytes: (LARGE + 10) * REVIEW_MEMORY_PER_BODY_BYTE });
    try {
      const post = (size: number, chunked = false) =>
        httpsRequest({ port: server.port, ca: pki.ca, method: 'POST', path: '/mutate', headers: chunked ? { 'transfer-encoding': 'chunked' } : { 'content-length': size }, body: 'x'.repeat(size) });
      const first = post(LARGE + 1);
      await new Promise((r) => setTimeout(r, 50));
      const answers = await Promise.all([first, post(LARGE + 2, true), post(LARGE + 3), post(100)]);
      expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 200]);
      // The small one ran beside the first; each large one only after the one before it ended.
      expect(calls.indexOf('start 100')).toBeLessThan(calls.indexOf(`end ${String(LARGE + 1)}`));
      const large = calls.filter((c) => !c.endsWith(' 100'));
      expect(large).toEqual([`start ${String(LARGE + 1)}`, `end ${String(LARGE + 1)}`, `start ${String(LARGE + 2)}`, `end ${String(LARGE + 2)}`, `start ${String(LARGE + 3)}`, `end ${String(LARGE + 3)}`]);
    } finally {
      await server.close();
    }
  });

  it('answers 503 with a warning and tells overloaded when no memory comes free within memoryWaitMs', async () => {
    const calls: string[] = [];
    const log = recorder();
    let overloaded = 0;
    const server = await startOkServer(pki, { handler: slow(400, calls), log: log.log, reviewMemoryBytes: LARGE * REVIEW_MEMORY_PER_BODY_BYTE, timeouts: { memoryWaitMs: 50 }, overloaded: () => { overloaded++; } });
    try {
      const post = () => httpsRequest({ port: server.port, ca: pki.ca, method: 'POST', path: '/mutate', body: 'x'.repeat(LARGE) });
      const first = post();
      await new Promise((r) => setTimeout(r, 100));
      const second = await post();
      expect(second.status).toBe(503);
      expect(second.headers['retry-after']).toBe('1');
      expect((await first).status).toBe(200);
      expect(overloaded).toBe(1);
      expect(log.entries).toContainEqual(expect.objectContaining({ level: 'warn', msg: 'request rejected', status: 503, reason: 'no memory for the review within 50 ms' }));
      expect(calls).toHaveLength(2);
    } finally {
      await server.close();
    }
  });
});

describe('worker heap from the container memory limit', () => {
  const files = (map: Record<string, string>) => (path: string): string | undefined => map[path];

  it.each([
    ['cgroup v2 with a limit', { '/proc/self/cgroup': '0::/kubepods/pod1/c1\n', '/sys/fs/cgroup/kubepods/pod1/c1/memory.max': '536870912\n' }, 512 * MIB],
    ['cgroup v2, max (no limit)', { '/proc/self/cgroup': '0::/\n', '/sys/fs/cgroup/memory.max': 'max\n' }, undefined],
    ['cgroup v2 in its own namespace (the root folder)', { '/proc/self/cgroup': '0::/\n', '/sys/fs/cgroup/memory.max': '1073741824' }, 1024 * MIB],
    ['cgroup v1, the smallest of the folders', { '/proc/self/cgroup': '4:memory:/a/b\n3:cpu:/a\n', '/sys/fs/cgroup/memory/a/b/memory.limit_in_bytes': '1073741824', '/sys/fs/cgroup/memory/a/memory.limit_in_bytes': '536870912' }, 512 * MIB],
    ['cgroup v1 without a limit (the huge number)', { '/proc/self/cgroup': '4:memory:/\n', '/sys/fs/cgroup/memory/memory.limit_in_bytes': '9223372036854771712' }, undefined],
    ['nothing readable', {}, undefined],
  ])('%s', (_name, map, expected) => {
    expect(cgroupMemoryLimit(files(map), 16 * 1024 * MIB)).toBe(expected);
  });

  it.each([
    [[], undefined, false],
    [['--max-old-space-size=300'], undefined, true],
    [[], '--enable-source-maps --max_old_space_size=300', true],
    [[], '--max-semi-space-size=8', false],
  ])('heap size given in %j, NODE_OPTIONS %j: %s', (execArgv, nodeOptions, expected) => {
    expect(heapSizeGiven(execArgv, nodeOptions)).toBe(expected);
  });

  it('shares the limit less the primary among the workers, less what a worker holds besides its old space', () => {
    expect(workerOldSpaceMib(512 * MIB, 2)).toBe(160);
    expect(workerOldSpaceMib(1024 * MIB, 2)).toBe(416);
    expect(workerOldSpaceMib(512 * MIB, 8)).toBe(MIN_WORKER_OLD_SPACE_MIB);
    const v2 = files({ '/proc/self/cgroup': '0::/\n', '/sys/fs/cgroup/memory.max': String(512 * MIB) });
    expect(workerHeapArgs(2, {}, [], v2, 16 * 1024 * MIB)).toEqual(['--max-old-space-size=160']);
    expect(workerHeapArgs(2, { NODE_OPTIONS: '--max-old-space-size=200' }, [], v2, 16 * 1024 * MIB)).toEqual([]);
    expect(workerHeapArgs(2, {}, [], files({}), 16 * 1024 * MIB)).toEqual([]);
  });
});

describe('serve under concurrent large reviews', () => {
  let pki: TestPki;
  let scratch: string;
  let cli: string;
  let rules: string;

  beforeAll(async () => {
    pki = await createTestPki();
    scratch = await mkdtemp(join(tmpdir(), 'serve-review-memory-'));
    // Split as dist/cli.js is: what the process loads at start is what a capped heap has left.
    cli = await bundleCliSplit(join(scratch, 'cli'));
    rules = join(scratch, 'rules.yaml');
    await writeFile(rules, 'rules:\n  - name: gcr\n    match: gcr.io\n    replace: asia.gcr.io\n');
  }, 60_000);

  afterAll(async () => {
    await pki.remove();
    await rm(scratch, { recursive: true, force: true });
  });

  /** An AdmissionReview of a Pod of `n` containers, every image rewritten (about 45 bytes each). */
  const review = (n: number): string =>
    JSON.stringify(podReview({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'big', namespace: 'default' }, spec: { containers: Array.from({ length: n }, (_, i) => ({ name: `c${i}`, image: `gcr.io/p/i${i}:1` })) } }));

  it('answers 12 reviews of 2 MiB at once with a 64 MB heap, each with its patch, and the process lives (it died of heap exhaustion before)', async () => {
    const containers = 45_000;
    const body = review(containers);
    expect(body.length).toBeGreaterThan(1.9 * MIB);
    const args = ['--config', rules, '--listen', '127.0.0.1:0', '--tls-cert-file', pki.server.certFile, '--tls-private-key-file', pki.server.keyFile, '--allow-unauthenticated', '--workers', '1'];
    await withServe({ cli, args, env: { NODE_OPTIONS: '--max-old-space-size=64' } }, async (s) => {
      const port = await s.port;
      const answers = await Promise.all(
        Array.from({ length: 12 }, () =>
          httpsRequest({ port, ca: pki.ca, method: 'POST', path: '/mutate', headers: { 'content-type': 'application/json' }, body }).catch((e: unknown) => ({ status: 0, body: String(e) })),
        ),
      );
      expect(answers.map((a) => a.status)).toEqual(Array.from({ length: 12 }, () => 200));
      for (const a of answers) {
        const patch = JSON.parse(Buffer.from((JSON.parse(a.body) as { response: { patch: string } }).response.patch, 'base64').toString('utf8')) as { op: string; path: string; value: unknown }[];
        const images = patch.filter((o) => o.path.endsWith('/image'));
        expect(images).toHaveLength(containers);
        expect(images[containers - 1]).toEqual({ op: 'replace', path: `/spec/containers/${containers - 1}/image`, value: `asia.gcr.io/p/i${containers - 1}:1` });
      }
      expect(s.child.exitCode).toBeNull();
      expect(s.logs.filter((l) => String(l['message']).startsWith('worker exited'))).toEqual([]);
    });
  }, 120_000);
});
