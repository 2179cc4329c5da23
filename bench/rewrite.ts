/**
 * Micro-benchmark of the rewrite engine: ns per image for a hit, a miss and an invalid
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
// "first sight": distinct images (more than the memo holds), so every call parses and matches.
const VARIANTS = 3 * 4096;
const rows = cases.map((c) => {
  const r = rewriter.rewrite(c.image);
  const got = r.kind === 'rewritten' ? r.rewritten : r.image;
  if (got !== c.want || r.kind !== c.kind) throw new Error(`wrong answer for ${c.name}: ${JSON.stringify(r)}`);
  const slash = c.image.indexOf('/');
  const variants = Array.from({ length: VARIANTS }, (_, i) => (slash < 0 ? c.image.replace(":", `${i}:`) : c.image.replace('/', `/v${i}`)));
  for (const v of variants.slice(0, 10)) if (rewriter.rewrite(v).kind !== c.kind) throw new Error(`variant ${v} is not ${c.kind}`);
  let n = 0;
  const cold = nsPerOp(() => { sink += rewriter.rewrite(variants[n++ % VARIANTS] ?? '').kind.length; });
  const warm = nsPerOp(() => { sink += rewriter.rewrite(c.image).kind.length; });
  return {
    case: c.name,
    'first sight ns/image': cold.median.toFixed(0),
    'p90 of rounds': cold.p90.toFixed(0),
    'x demo': (cold.median / baseline.median).toFixed(1),
    'memoized ns/image': warm.median.toFixed(0),
  };
});
console.log(`rewrite engine, ${ROUNDS} rounds x ${ITERATIONS} iterations, node ${process.version}`);
console.log(`baseline (the demo's startsWith map, no parsing, same run): ${baseline.median.toFixed(0)} ns/image`);
console.table(rows);
if (sink === 0) console.log('');
