/**
 * The two small matchers the rules need that must not backtrack: namespace globs, and the literal
 * text a regex rule's names start with (which lets the rewriter skip regex rules without running
 * them, and `webhook-config`'s matchCondition leave out images no rule can take). Pure.
 */

/**
 * A namespace glob (`*` any run, `?` one character) as a matcher that never backtracks: the glob
 * is split at its stars, the first piece must start the name, the last must end it, and each piece
 * between is taken at its leftmost place after the previous one (a leftmost place never loses a
 * match that a later one would find). Work: at most the name's length times the glob's, where a
 * regex (`^.*a.*a.*b$`) is exponential in the number of stars. Hand-written: a dozen lines, and
 * no package does exactly this without a regex.
 */
export function globMatcher(glob: string): (name: string) => boolean {
  const pieces = glob.split('*');
  const first = pieces[0] ?? '';
  if (pieces.length === 1) return (name) => name.length === first.length && pieceAt(name, first, 0);
  const last = pieces[pieces.length - 1] ?? '';
  const middle = pieces.slice(1, -1).filter((p) => p !== '');
  const least = first.length + last.length + middle.reduce((n, p) => n + p.length, 0);
  return (name) => {
    if (name.length < least || !pieceAt(name, first, 0) || !pieceAt(name, last, name.length - last.length)) return false;
    let from = first.length;
    const end = name.length - last.length;
    for (const piece of middle) {
      let at = from;
      while (at + piece.length <= end && !pieceAt(name, piece, at)) at++;
      if (at + piece.length > end) return false;
      from = at + piece.length;
    }
    return true;
  };
}

/** True when `piece` (with `?` for any one character) matches `name` at `at`. */
function pieceAt(name: string, piece: string, at: number): boolean {
  for (let i = 0; i < piece.length; i++) {
    const c = piece.charCodeAt(i);
    if (c !== 0x3f && c !== name.charCodeAt(at + i)) return false;
  }
  return true;
}

/**
 * True when the regex has a `|` outside any group or class (a branch that may start otherwise).
 * src/config/regex-check.ts's outsideClasses walks a source the same way; one shared generator
 * put this module in a chunk of its own, a fourth file on the cold start's path that
 * scripts/build.mjs refuses, so each keeps its loop.
 */
export function hasTopLevelAlternation(source: string): boolean {
  let depth = 0;
  let inClass = false;
  for (let i = 0; i < source.length; i++) {
    const c = source[i];
    if (c === '\\') i++;
    else if (inClass) inClass = c !== ']';
    else if (c === '[') inClass = true;
    else if (c === '(') depth++;
    else if (c === ')') depth--;
    else if (c === '|' && depth === 0) return true;
  }
  return false;
}

/**
 * Text every name a regex rule matches starts with (`gcr.io/` for `gcr\.io/(.*)`), read from the
 * start of the source: plain characters and escaped punctuation, up to the first other construct
 * (a class, a group, `.`, an escape of a letter or digit), after a leading `^`; a character followed
 * by a quantifier is not required. A source with a `|` outside its groups and classes has none
 * (`docker\.io/library/(nginx|redis)` has `docker.io/library/`). Only ever too short, never wrong:
 * it lets the rewriter skip a regex without running it, the load's checks decide by it, and
 * `webhook-config`'s matchCondition sends only the images that start with it. Written by hand,
 * since reading more would need the regex parser, which src/core does not carry.
 */
export function literalPrefix(source: string): string {
  if (hasTopLevelAlternation(source)) return '';
  let out = '';
  // A leading `^` is the anchoring the rewriter adds anyway (`^gcr\.io/(.*)$`): without this, an
  // anchored regex had no literal, so it was tried for every image, and 10,000 of them skipped the
  // load's check for rules that rewrite nothing.
  for (let i = source.startsWith('^') ? 1 : 0; i < source.length; i++) {
    const c = source[i] ?? '';
    let literal: string;
    if (/^[A-Za-z0-9/:_@-]$/.test(c)) literal = c;
    else if (c === '\\' && /^[./:_@-]$/.test(source[i + 1] ?? '')) literal = source[++i] ?? '';
    else break;
    if (/^[?*+{]$/.test(source[i + 1] ?? '')) break;
    out += literal;
  }
  return out;
}
