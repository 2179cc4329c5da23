/** fast-check generators for image references built from the distribution/reference grammar. */
import fc from 'fast-check';

const lower = 'abcdefghijklmnopqrstuvwxyz0123456789'.split('');
const alnum = fc.string({ unit: fc.constantFrom(...lower), minLength: 1, maxLength: 8 });
const separator = fc.constantFrom('.', '_', '__', '-', '--');
const pathComponent = fc
  .tuple(alnum, fc.array(fc.tuple(separator, alnum), { maxLength: 2 }))
  .map(([head, rest]) => head + rest.map(([s, a]) => s + a).join(''));
const label = fc.string({ unit: fc.constantFrom(...lower), minLength: 1, maxLength: 10 });
const hostName = fc.array(label, { minLength: 2, maxLength: 4 }).map((ls) => ls.join('.'));
const port = fc.integer({ min: 1, max: 65535 }).map((p) => `:${p}`);
// The grammar accepts hex-and-colon IPv6 only (no embedded IPv4), as distribution/reference does.
const ipv6 = fc.ipV6().filter((a) => !a.includes(".")).map((a) => `[${a}]`);
export const domain = fc.oneof(
  { weight: 6, arbitrary: fc.tuple(hostName, fc.option(port, { nil: '' })).map(([h, p]) => h + p) },
  { weight: 1, arbitrary: fc.constant('docker.io') },
  { weight: 1, arbitrary: fc.tuple(fc.constant('localhost'), fc.option(port, { nil: '' })).map(([h, p]) => h + p) },
  { weight: 1, arbitrary: fc.tuple(ipv6, fc.option(port, { nil: '' })).map(([h, p]) => h + p) },
);
export const path = fc.array(pathComponent, { minLength: 1, maxLength: 4 }).map((cs) => cs.join('/'));
const tagChars = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-'.split('');
export const tag = fc
  .tuple(fc.constantFrom(...tagChars.slice(0, 63)), fc.string({ unit: fc.constantFrom(...tagChars), maxLength: 20 }))
  .map(([a, b]) => a + b);
export const digest = fc
  .constantFrom(['sha256', 64] as const, ['sha512', 128] as const)
  .chain(([alg, n]) => fc.string({ unit: fc.constantFrom(...'0123456789abcdef'.split('')), minLength: n, maxLength: n }).map((h) => `${alg}:${h}`));

/** A canonical reference string (`domain/path[:tag][@digest]`) and its parts. */
export const reference = fc
  .record({ domain, path, tag: fc.option(tag, { nil: undefined }), digest: fc.option(digest, { nil: undefined }) })
  .filter((r) => `${r.domain}/${r.path}`.length <= 255);

export function format(r: { domain: string; path: string; tag: string | undefined; digest: string | undefined }): string {
  return `${r.domain}/${r.path}${r.tag === undefined ? '' : `:${r.tag}`}${r.digest === undefined ? '' : `@${r.digest}`}`;
}

/** Strings made of the grammar's own characters: the inputs most likely to make a regex backtrack. */
export const hostile = fc
  .tuple(
    fc.string({ unit: fc.constantFrom('a', '0', '-', '.', '_', '/', ':', '@', '[', ']', 'A', ' ', '!'), maxLength: 300 }),
    fc.nat({ max: 2000 }),
    fc.constantFrom('a', 'a-', 'a.', 'a_', 'a/', 'a__', '0:', 'a@'),
    fc.constantFrom('', '!', ' ', '/', ':', '@', '-', 'A'),
  )
  .map(([prefix, n, unit, tail]) => prefix + unit.repeat(n) + tail);
