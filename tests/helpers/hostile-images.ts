/**
 * Image strings that cost the most per character before the bounded-work fixes (dotted runs after a
 * hex run, long upper-case names, stacked digests, bidirectional-text controls, valid names through
 * a regex rule), and plain images of the same lengths that no rule touches: the worst review's
 * input for tests/unit/review-bounded.test.ts and the benchmark (bench/lib/worst.ts). The rules
 * they are meant for: `gcr.io` -> `asia.gcr.io` and a regex rule on `*.example.com`.
 */
const LENGTH = 900;
const fit = (s: string, i: number): string => `${s.slice(0, LENGTH)}${i}`;
const digest = `sha256:${'a'.repeat(64)}`;

/** Shapes that cost the most per character before the fixes; each about LENGTH characters. */
const SHAPES: readonly ((i: number) => string)[] = [
  // A hex run, then a dotted run: the digest-shortening regex retried at every word of it.
  (i) => fit(`${'a'.repeat(32)}/${'a.'.repeat(LENGTH)}`, i),
  (i) => fit(`${'0'.repeat(40)}${'.a'.repeat(LENGTH)}`, i),
  (i) => fit(`${'a.'.repeat(120)}io/${'a-'.repeat(LENGTH)}`, i),
  (i) => fit('A'.repeat(LENGTH), i), // upper case: the parse error quotes the name
  (i) => fit(`gcr.io/${'x:'.repeat(LENGTH)}`, i),
  (i) => fit(`${'a.'.repeat(100)}a:${'b'.repeat(40)}@${digest}:${digest}${'.a'.repeat(LENGTH)}`, i),
  (i) => `${'a.'.repeat(125)}example.com/${'b'.repeat(250)}:t${i}`, // valid, under the limits, through the regex rule
  (i) => `${`gcr.io/${'a/'.repeat(120)}a@${digest}`.slice(0, 400)}${i}`,
  (i) => fit(`\u202e${'é'.repeat(LENGTH)}`, i),
];

/** `count` hostile images, the shapes in turn, each made distinct by its index. */
export function hostileImages(count: number): string[] {
  return Array.from({ length: count }, (_, i) => (SHAPES[i % SHAPES.length] ?? String)(i));
}

/** For each image, a plain one of about the same length that no rule touches. */
export function plainImagesLike(images: readonly string[]): string[] {
  return images.map((image, i) => `registry.example.org/${'b'.repeat(Math.max(1, Math.min(image.length, 700) - 30))}:${i}`);
}
