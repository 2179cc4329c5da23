/**
 * Warning text: admission warnings made printable ASCII and fitted to about
 * WARNING_TARGET_LENGTH characters (kubectl prints them; the API server may cut them past
 * WARNING_MAX_LENGTH), and the list of warnings capped at MAX_WARNINGS and MAX_WARNINGS_LENGTH.
 */
import { MAX_WARNINGS, MAX_WARNINGS_LENGTH, ORIGINAL_IMAGES_ANNOTATION, WARNING_MAX_LENGTH, WARNING_PREFIX, WARNING_TARGET_LENGTH } from './admission.js';
import { unicodeEscape } from './json.js';

/** Untrusted text made printable ASCII (control and non-ASCII UTF-16 units as `\uXXXX`, like JSON). */
function printable(s: string): string {
  return s.replace(/[^\x20-\x7e]/g, unicodeEscape);
}
const NOT_PRINTABLE = /[^\x20-\x7e]/;

/** `sha256:0123456789abcdef...` (64 hex) -> `sha256:01234567...` inside a reference or message. */
function abbreviateDigests(s: string): string {
  // Linear: each `:` is followed by at most one hex run, read once. (The pattern this replaces also
  // matched the whole algorithm before the `:`, `([a-z0-9]+(?:[+._-][a-z0-9]+)*)`, and retried it
  // at every word of a dotted run: quadratic, seconds on a long image.)
  return s.replace(DIGEST_HEX, (all: string, head: string, offset: number) => (/[a-z0-9]/.test(s.charAt(offset - 1)) ? `:${head}...` : all));
}
const DIGEST_HEX = /:([a-fA-F0-9]{8})[a-fA-F0-9]{24,}/g;

/** Cuts that would remove only a few characters are not worth the lost text. */
const MIN_CUT = 6;
/** No variable part is cut below this many characters. */
export const MIN_PART = 40;
/** Longer untrusted text is cut before any work is done on it. */
const MAX_PART_INPUT = 1024;

type Cut = 'middle' | 'start';

/**
 * Untrusted text cut to MAX_PART_INPUT before any work on it, keeping the ends its cut shows: both
 * for `'middle'` (the end of an image is its tag or digest), the end for `'start'`.
 */
function bounded(text: string, cut: Cut): string {
  if (text.length <= MAX_PART_INPUT) return text;
  if (cut === 'start') return `...${text.slice(text.length - (MAX_PART_INPUT - 3))}`;
  const half = (MAX_PART_INPUT - 3) >> 1;
  return `${text.slice(0, half)}...${text.slice(text.length - half)}`;
}

/**
 * Cut `s` to about `max` characters. `'middle'` keeps the start and, when short enough, the last
 * path component with its tag or digest (`123456789012.dkr.ecr.us-w.../nginx:1.26`); `'start'`
 * keeps the end (`...repository name (Nginx) must be lowercase`), where messages say what is wrong.
 */
function ellipsize(s: string, max: number, cut: Cut): string {
  if (s.length - max < MIN_CUT) return s;
  const keep = Math.max(max - 3, 2);
  if (cut === 'start') return `...${s.slice(s.length - keep)}`;
  const lastSlash = s.lastIndexOf('/');
  const at = s.indexOf('@', lastSlash + 1);
  const tagOrDigest = at >= 0 ? at : s.indexOf(':', lastSlash + 1);
  // The tail from the last `/`, else from the tag or digest, when it is short enough.
  const tailFrom = (i: number): number | undefined => (i > 0 && s.length - i <= keep * 0.6 ? s.length - i : undefined);
  const tail = tailFrom(lastSlash) ?? tailFrom(tagOrDigest) ?? Math.floor(keep * 0.4);
  return `${s.slice(0, keep - tail)}...${s.slice(s.length - tail)}`;
}

/**
 * A variable part of a warning. Images and messages (`level` 0) are shortened before container
 * and rule names (`level` 1), both to reach WARNING_TARGET_LENGTH; what the warning exists to say
 * (`level` 2: where an image goes, e.g. which region's registry) is shortened only past
 * WARNING_MAX_LENGTH, where the API server would cut it anyway. `cut` says which end to keep.
 */
export interface WarningPart {
  readonly text: string;
  readonly level: Level;
  readonly cut?: Cut;
}
type Level = 0 | 1 | 2;

/** A segment of a warning being fitted: fixed text, or a variable part that may be shortened. */
interface Piece {
  readonly fixed: boolean;
  text: string;
  readonly level: Level;
  readonly cut: Cut;
}

/** Each level in turn, with the length it is shortened to reach. */
const LEVELS = [
  [0, WARNING_TARGET_LENGTH],
  [1, WARNING_TARGET_LENGTH],
  [2, WARNING_MAX_LENGTH],
] as const;

/**
 * A warning from fixed text and variable parts, kept within WARNING_TARGET_LENGTH where that
 * leaves it readable: digests are abbreviated first, then the longest images or messages are cut
 * (not below MIN_PART), then container and rule names. Whatever remains over the target is
 * accepted up to WARNING_MAX_LENGTH, where the API server starts cutting: level 2 parts (a
 * rewrite's target) are cut only to stay under it; past that the text is cut.
 */
export function fitWarning(segments: readonly (string | WarningPart)[]): string {
  // Most warnings are printable and either short, or long only by parts `fitSegments` never cuts
  // (a rewrite's target, names and images of at most MIN_PART characters) and free of digests:
  // then it would give the text as it is.
  let joined = '';
  let cuttable = false;
  for (const s of segments) {
    if (typeof s === 'string') joined += s;
    else {
      joined += s.text;
      if (s.level < 2 && s.text.length > MIN_PART) cuttable = true;
    }
  }
  return fitsAsIs(joined, cuttable) ? joined : fitSegments(segments);
}

/**
 * Whether `fitWarning` gives the joined text of a warning as it is: it is printable and short, or
 * long only by parts it never cuts and free of digests. `cuttable`: a part below level 2 is longer
 * than MIN_PART. For callers that join a usual warning themselves, without building its segments.
 */
export function fitsAsIs(joined: string, cuttable: boolean): boolean {
  return !NOT_PRINTABLE.test(joined) && (joined.length <= WARNING_TARGET_LENGTH || (!cuttable && joined.length <= WARNING_MAX_LENGTH && !hasDigest(joined)));
}

/**
 * Whether `s` has a `:` followed by 32 hex digits, which DIGEST_HEX would abbreviate. A scan from
 * each `:` rather than a regex: /:[a-fA-F0-9]{32}/ costs several times this on hex-rich text
 * (account ids, digests), and it runs for every long warning.
 */
function hasDigest(s: string): boolean {
  for (let colon = s.indexOf(':'); colon >= 0; colon = s.indexOf(':', colon + 1)) {
    let n = 0;
    while (n < 32 && isHex(s.charCodeAt(colon + 1 + n))) n++;
    if (n === 32) return true;
  }
  return false;
}
const isHex = (c: number): boolean => (c >= 48 && c <= 57) || (c >= 97 && c <= 102) || (c >= 65 && c <= 70);

/** `fitWarning` without its shortcut: every step, whatever the text (exported for the tests that compare the two). */
export function fitSegments(segments: readonly (string | WarningPart)[]): string {
  // Lengths are kept as a running sum: the text is joined once, at the end.
  const parts: Piece[] = [];
  let length = 0;
  for (const s of segments) {
    const p: Piece =
      typeof s === 'string'
        ? { fixed: true, text: s, level: 0, cut: 'middle' }
        : { fixed: false, text: printable(bounded(s.text, s.cut ?? 'middle')), level: s.level, cut: s.cut ?? 'middle' };
    parts.push(p);
    length += p.text.length;
  }
  if (length > WARNING_TARGET_LENGTH) {
    length = 0;
    for (const p of parts) {
      if (!p.fixed) p.text = abbreviateDigests(p.text);
      length += p.text.length;
    }
  }
  for (const [level, limit] of LEVELS) {
    const excess = length - limit;
    if (excess <= 0) break;
    const group = parts.filter((p) => !p.fixed && p.level === level);
    const removed = (cap: number): number => {
      let sum = 0;
      for (const p of group) sum += Math.max(0, p.text.length - Math.max(cap, MIN_PART));
      return sum;
    };
    // The largest cap that removes at least `excess` characters (or as many as the floor allows).
    let lo = 0;
    let hi = 0;
    for (const p of group) hi = Math.max(hi, p.text.length);
    while (lo < hi) {
      const mid = Math.ceil((lo + hi) / 2);
      if (removed(mid) >= excess) lo = mid;
      else hi = mid - 1;
    }
    for (const p of group) {
      length -= p.text.length;
      p.text = ellipsize(p.text, Math.max(lo, MIN_PART), p.cut);
      length += p.text.length;
    }
  }
  let text = '';
  for (const p of parts) text += p.text;
  return text.length <= WARNING_MAX_LENGTH ? text : `${text.slice(0, WARNING_MAX_LENGTH - 3)}...`;
}

/**
 * The last warning when `count` more are left out; it points to the original-images annotation
 * only when the answer records the rewrites there (not when nothing was rewritten, nor when the
 * annotation would not fit or is never written: a subresource, `recordOriginals: false`).
 */
const moreWarnings = (count: number, originalsRecorded: boolean): string =>
  `${WARNING_PREFIX}${count} more warnings not shown${originalsRecorded ? ` (see the ${ORIGINAL_IMAGES_ANNOTATION} annotation)` : ''}`;

/**
 * `warnings`, or as many of its first ones as fit (at most MAX_WARNINGS - 1, with the last one
 * within MAX_WARNINGS_LENGTH characters in all) and one more saying how many were left out.
 * `total` counts warnings never built as well (callers build only the first MAX_WARNINGS: text
 * for the thousands of images of a hostile pod would be built only to be dropped).
 * `originalsRecorded`: the answer records the rewrites in the original-images annotation.
 */
export function limitWarnings(warnings: readonly string[], total: number, originalsRecorded: boolean): string[] {
  let length = 0;
  for (const w of warnings) length += w.length;
  if (total <= MAX_WARNINGS && length <= MAX_WARNINGS_LENGTH) return [...warnings];
  // Room for the last warning with the largest count it can have.
  const budget = MAX_WARNINGS_LENGTH - moreWarnings(total, originalsRecorded).length;
  const kept: string[] = [];
  let used = 0;
  for (const w of warnings) {
    if (kept.length === MAX_WARNINGS - 1 || used + w.length > budget) break;
    kept.push(w);
    used += w.length;
  }
  kept.push(moreWarnings(total - kept.length, originalsRecorded));
  return kept;
}
