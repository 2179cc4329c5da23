import { Variants, workload } from './lib/workloads.js';
const v = new Variants(workload('pod5'));
const texts = Array.from({ length: 2000 }, (_, i) => v.make(i).text);
console.log('body bytes', texts[0]?.length);
const N = 20000;
for (let k = 0; k < 3; k++) {
  let t = performance.now(); let x = 0;
  for (let i = 0; i < N; i++) { const o = JSON.parse(texts[i % 2000] ?? '') as { kind: string }; x += o.kind.length; }
  const parse = (performance.now() - t) * 1000 / N;
  const objs = texts.slice(0, 200).map((s) => JSON.parse(s) as unknown);
  t = performance.now();
  for (let i = 0; i < N; i++) x += JSON.stringify(objs[i % 200]).length;
  console.log('JSON.parse', parse.toFixed(1), 'us; JSON.stringify', ((performance.now() - t) * 1000 / N).toFixed(1), 'us', x > 0);
}
const o = { uid: 'u', namespace: 'n', kind: 'v1/Pod', name: 'x' };
let t = performance.now(); let y = 0;
for (let i = 0; i < 200000; i++) { const z = { ...o, container: 'c', list: 'l', from: 'f', to: 't', rule: 'r' }; y += z.rule.length; }
console.log('spread+5', ((performance.now() - t) * 1000 / 200000).toFixed(3), 'us');
t = performance.now();
for (let i = 0; i < 200000; i++) { const z = { uid: o.uid, namespace: o.namespace, kind: o.kind, name: o.name, container: 'c', list: 'l', from: 'f', to: 't', rule: 'r' }; y += z.rule.length; }
console.log('literal', ((performance.now() - t) * 1000 / 200000).toFixed(3), 'us', y > 0);
