/**
 * Micro-benchmark of the rewrite engine (issue 2): ns per image for a hit, a miss and an invalid
 * image, beside a baseline measured in the same run: the original demo's `startsWith` map, which
 * does no parsing at all. Prints a table; asserts the answers, not the speed.
 *   npm run bench:rewrite [-- --quick]
 */
import { parseRules } from '../src/config/load.js';

const quick = process.argv.includes('--quick');
const ROUNDS = quick ? 3 : 15;
const ITERATIONS = quick ? 2_000 : 200_000;

const parsed = parseRules(
  `
rules:
  - name: k8s-gcr
    match: k8s.gcr.io
    replace: asia.gcr.io/google-containers
  - name: gcr
    match: gcr.io
    replace: asia.gcr.io
  - name: quay
    regex: 'quay\\.io/(?<org>[^/]+)/(.+)'
    replace: mirror.example.com/quay/$<org>/$2
  - name: hub
    match: docker.io
    replace: 123456789012.dkr.ecr.us-west-2.amazonaws.com/docker-hub
exclude: [docker.io/library/busybox]
`,
  {},
);
if (!parsed.ok) throw new Error('bench rules invalid');
const { rewriter } = parsed;

// The demo's algorithm (seed.md): a hard-coded prefix map and startsWith, no parsing.
const demoMap: Readonly<Record<string, string>> = { 'gcr.io/': 'asia.gcr.io/', 'k8s.gcr.io/': 'asia.gcr.io/google-containers/' };
function demoRewrite(image: string): string {
  for (const [from, to] of Object.entries(demoMap)) if (image.startsWith(from)) return to + image.slice(from.length);
  return image;
}

interface Case { readonly name: string; readonly image: string; readonly want: string; readonly kind: string }
const cases: readonly Case[] = [
  { name: 'hit (prefix rule)', image: 'gcr.io/nginx:1.27', want: 'asia.gcr.io/nginx:1.27', kind: 'rewritten' },
  { name: 'hit (Docker Hub short name)', image: 'nginx:1.27', want: '123456789012.dkr.ecr.us-west-2.amazonaws.com/docker-hub/library/nginx:1.27', kind: 'rewritten' },
  { name: 'hit (regex rule)', image: 'quay.io/coreos/etcd:v3.5.0', want: 'mirror.example.com/quay/coreos/etcd:v3.5.0', kind: 'rewritten' },
  { name: 'miss', image: 'registry.example.com/team/app:2.0', want: 'registry.example.com/team/app:2.0', kind: 'unchanged' },
  { name: 'invalid image', image: 'registry.example.com/team/payments-service:1.0 ', want: 'registry.example.com/team/payments-service:1.0 ', kind: 'invalid' },
];

function nsPerOp(fn: () => void): { median: number; p90: number } {
  const samples: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < ITERATIONS; i++) fn();
    samples.push(Number(process.hrtime.bigint() - t0) / ITERATIONS);
  }
  samples.sort((a, b) => a - b);
  return { median: samples[Math.floor(samples.length / 2)] ?? 0, p90: samples[Math.floor(samples.length * 0.9)] ?? 0 };
}

let sink = 0;
const baseline = nsPerOp(() => { sink += demoRewrite('gcr.io/nginx:1.27').length; });
const rows = cases.map((c) => {
  const r = rewriter.rewrite(c.image);
  const got = r.kind === 'rewritten' ? r.rewritten : r.image;
  if (got !== c.want || r.kind !== c.kind) throw new Error(`wrong answer for ${c.name}: ${JSON.stringify(r)}`);
  const t = nsPerOp(() => { sink += rewriter.rewrite(c.image).kind.length; });
  return { case: c.name, 'ns/image (median)': t.median.toFixed(0), 'ns/image (p90 of rounds)': t.p90.toFixed(0), 'x demo startsWith': (t.median / baseline.median).toFixed(1) };
});
console.log(`rewrite engine, ${ROUNDS} rounds x ${ITERATIONS} iterations, node ${process.version}`);
console.log(`baseline (demo startsWith map, no parsing): ${baseline.median.toFixed(0)} ns/image`);
console.table(rows);
if (sink === 0) console.log('');
