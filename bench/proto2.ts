import { parseRules } from '../src/config/load.js';
import { review } from '../src/core/admission.js';
import { Variants, BENCH_RULES, BENCH_ENV, workload } from './lib/workloads.js';
const parsed = parseRules(BENCH_RULES, BENCH_ENV);
if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
const rw = parsed.rewriter;
const v = new Variants(workload((process.argv[2] ?? 'pod5') as 'pod5'));
const bodies: unknown[] = []; const rep = process.argv[3] === "rep";
for (let i = 0; i < 5000; i++) bodies.push(JSON.parse(rep ? v.make().text : v.make(i).text));
let n = 0;
const t0 = performance.now();
for (let r = 0; r < 40000; r++) { const out = review(bodies[r % 5000], rw); if (out.ok) n++; }
console.log(((performance.now() - t0) * 1000 / 40000).toFixed(2), 'us/review', n);
