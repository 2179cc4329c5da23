import { GCProfiler, getHeapStatistics } from 'node:v8';
import { parseRules } from '../src/config/load.js';
import { review } from '../src/core/admission.js';
import { Variants, BENCH_RULES, BENCH_ENV, WORKLOADS } from './lib/workloads.js';
const parsed = parseRules(BENCH_RULES, BENCH_ENV);
if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
const rw = parsed.rewriter;
const gc = (globalThis as unknown as { gc: () => void }).gc;
for (const w of WORKLOADS) {
  const v = new Variants(w);
  let n = 0;
  for (let warm = 0; warm < 3000; warm++) review(JSON.parse(v.make(n++).text), rw);
  for (const mode of ['first', 'repeated']) {
    const res: string[] = [];
    for (let k = 0; k < 5; k++) {
      const bodies: unknown[] = [];
      for (let i = 0; i < 100; i++) bodies.push(JSON.parse(mode === 'first' ? v.make(n++).text : v.make().text));
      gc(); gc();
      const p = new GCProfiler(); p.start();
      const h0 = getHeapStatistics().used_heap_size;
      for (const b of bodies) review(b, rw);
      const h1 = getHeapStatistics().used_heap_size;
      const s = p.stop();
      res.push(`${((h1 - h0) / 100).toFixed(0)}${s.statistics.length ? '(gc)' : ''}`);
    }
    console.log(w.id, mode, res.join(' '));
  }
}
// calibration
const bodies: number[][] = [];
gc(); const h0 = getHeapStatistics().used_heap_size; for (let i = 0; i < 100; i++) bodies.push(new Array<number>(100).fill(1)); console.log('calib 100 arrays of 100 smis: per', (getHeapStatistics().used_heap_size - h0) / 100, 'expect ~ 16+800+16');
