/**
 * Image strings that cost the most per character before the bounded-work fixes (dotted runs after a
 * hex run, long upper-case names, stacked digests, bidirectional-text controls, valid names through
 * a regex rule and a match rule), and plain valid images that no rule touches: the worst review's
 * input for tests/unit/review-bounded.test.ts and the benchmark (bench/lib/worst.ts). The rules
 * they are meant for: `gcr.io` -> `asia.gcr.io` and a regex rule on `*.example.com`. Callers make
 * each image distinct by appending a number: the valid ones end with a tag, which takes it.
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
  // Valid (a name of at most 255 characters, docs/design.md "Rewrite semantics"), rewritten: a
  // dotted host through the regex rule, 119 path components through the match rule. (They were
  // names of 512 characters, and a digest the appended number made invalid: no image of this list
  // reached a rule.)
  (i) => `${'a.'.repeat(60)}example.com/${'b'.repeat(100)}:t${i}`,
  (i) => `gcr.io/${'a/'.repeat(118)}a:t${i}`,
  (i) => fit(`\u202e${'é'.repeat(LENGTH)}`, i),
];

/** `count` hostile images, the shapes in turn, each made distinct by its index. */
export function hostileImages(count: number): string[] {
  return Array.from({ length: count }, (_, i) => (SHAPES[i % SHAPES.length] ?? String)(i));
}

/**
 * For each image, a plain valid one that no rule touches, as long as it up to what a valid name and
 * tag allow (a 255-character name, a tag of 120 here, leaving room for the number callers append).
 * They were names of up to 691 characters: invalid images, each one warned about and reported.
 */
export function plainImagesLike(images: readonly string[]): string[] {
  const host = 'registry.example.org/';
  return images.map((image, i) => {
    const path = Math.min(255 - host.length, Math.max(1, image.length - host.length - 21));
    const tag = `t${i}`.padEnd(Math.min(120, Math.max(0, image.length - host.length - path - 1)), 'x');
    return `${host}${'b'.repeat(path)}:${tag}`;
  });
}
