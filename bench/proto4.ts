import { readFileSync } from 'node:fs';
import { parseRules } from '../src/config/load.js';
import { review } from '../src/core/admission.js';
import { createHandler } from '../src/handler.js';
import { createObservability } from '../src/observability.js';
import { Variants, BENCH_RULES, BENCH_ENV, workload } from './lib/workloads.js';
const parsed = parseRules(BENCH_RULES, BENCH_ENV);
if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
const rw = parsed.rewriter;
const { logger, metrics } = createObservability({ sink: () => undefined, logLevel: 'INFO' });
const h = createHandler({ rules: { current: () => Promise.resolve({ ok: true, rewriter: rw, source: 'bench' }) }, token: 'example-token-0123456789abcdef', logger, metrics });
const tmpl = JSON.parse(readFileSync('/work/main/events/rest-pod-v1.json', 'utf8')) as Record<string, unknown>;
const v = new Variants(workload((process.argv[2] ?? 'pod5') as 'pod5'));
const rep = process.argv[3] === 'rep';
const N = 20000;
const events: unknown[] = []; const bodies: unknown[] = [];
for (let i = 0; i < 2000; i++) { const t = rep ? v.make().text : v.make(i).text; events.push({ ...tmpl, body: t }); bodies.push(JSON.parse(t)); }
let t0 = performance.now();
for (let r = 0; r < N; r++) { const res = await h(events[r % 2000]); if (res.statusCode !== 200) throw new Error(res.body); }
const th = (performance.now() - t0) * 1000 / N;
t0 = performance.now();
for (let r = 0; r < N; r++) { review(bodies[r % 2000], rw); }
const tr = (performance.now() - t0) * 1000 / N;
console.log('handler', th.toFixed(1), 'review', tr.toFixed(1), 'overhead', (th - tr).toFixed(1));
