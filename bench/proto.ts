import { parseRules } from '../src/config/load.js';
import { review } from '../src/core/admission.js';
import { Variants, WORKLOADS, BENCH_RULES, BENCH_ENV, problemWith } from './lib/workloads.js';
const parsed = parseRules(BENCH_RULES, BENCH_ENV);
if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
const rw = parsed.rewriter;
for (const w of WORKLOADS) {
  const v = new Variants(w);
  let n = 0;
  for (const mode of ['first', 'repeated']) {
    const samples: number[] = [];
    for (let r = 0; r < 20000; r++) {
      const variant = mode === 'first' ? v.make(n++) : v.make();
      const body: unknown = JSON.parse(variant.text);
      const t0 = performance.now();
      const out = review(body, rw);
      const t1 = performance.now();
      samples.push((t1 - t0) * 1000);
      if (r % 1000 === 0) { if (!out.ok) throw new Error('x'); const p = problemWith(w, variant, JSON.parse(JSON.stringify(out.response))); if (p) throw new Error(p); }
    }
    samples.sort((a, b) => a - b);
    console.log(w.id, mode, samples[samples.length >> 1]?.toFixed(2), samples[Math.floor(samples.length * 0.99)]?.toFixed(2));
  }
}
