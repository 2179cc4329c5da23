/**
 * Aliases counted as kubectl counts them, for `render` and `audit -f`. kubectl reads YAML with
 * go-yaml v2 (sigs.k8s.io/yaml), which refuses a document as an alias bomb when, at any point of
 * its decoding, more than 100 of the nodes decoded came from aliases, more than 1,000 were decoded
 * in all, and the aliases' share is over a ratio that falls from 99% (up to 400,000 nodes) to 10%
 * (4,000,000 and over); an anchor aliasing itself is refused too. The `yaml` package's own guard
 * (`maxAliasCount`) refuses instead the 101st use of one anchor in any document, such as a
 * PrometheusRule whose 150 rules each say `labels: *common`, which kubectl applies.
 *
 * Written here because no library counts as go-yaml does; it expands nothing: each anchored node's
 * expanded size is computed once, and an alias adds it at once (within an alias, both counts grow
 * by one per node, so the refusal, if any, holds at the alias's end: checking there is exact).
 */
import { type Document, isAlias, isMap, isNode, isPair, isScalar, isSeq } from 'yaml';

/** go-yaml v2's decode.go: the share of decoded nodes that may come from aliases. */
function allowedAliasRatio(decoded: number): number {
  if (decoded <= 400_000) return 0.99;
  if (decoded >= 4_000_000) return 0.1;
  return 0.99 - 0.89 * ((decoded - 400_000) / 3_600_000);
}

/**
 * A merge key (`<<`, plain), which go-yaml does not decode as a node. Composed with `merge: true`
 * (as render and audit compose), the `yaml` package holds its value as a symbol.
 */
export const isMergeKey = (key: unknown): boolean =>
  isScalar(key) && (key.type === 'PLAIN' || key.type === undefined) && (key.value === '<<' || (typeof key.value === 'symbol' && key.value.description === '<<'));

/** Why kubectl would refuse a document's aliases, and the offset of the alias where it would. */
export interface AliasingProblem {
  readonly message: string;
  readonly offset: number | undefined;
}

/**
 * Why kubectl would refuse the document's aliases, or undefined when it would decode them. The
 * document must be composed without errors (an alias before its anchor is one).
 */
export function aliasingProblem(doc: Document.Parsed): AliasingProblem | undefined {
  const anchors = new Map<string, unknown>();
  const targets = new Map<unknown, unknown>();
  const sizes = new Map<unknown, number>();
  const open = new Set<unknown>();
  let decoded = 1; // the document node
  let fromAliases = 0;
  let problem: AliasingProblem | undefined;
  const EXCESSIVE = 'excessive aliasing: its aliases expand to more than kubectl reads (an alias bomb)';
  const excessive = (): boolean => fromAliases > 100 && decoded > 1000 && fromAliases / decoded > allowedAliasRatio(decoded);

  /** Nodes decoded for `node`, its aliases expanded (every alias inside it already walked). */
  const size = (node: unknown): number => {
    const known = sizes.get(node);
    if (known !== undefined) return known;
    let n = 1;
    if (isAlias(node)) n += size(targets.get(node));
    else if (isSeq(node)) for (const item of node.items) n += size(item);
    else if (isMap(node)) {
      for (const pair of node.items) {
        // A merge key is not decoded; its value is, but a sequence's items one by one, not it.
        if (isPair(pair)) n += isMergeKey(pair.key) ? size(pair.value) - (isSeq(pair.value) ? 1 : 0) : size(pair.key) + size(pair.value);
      }
    }
    sizes.set(node, n);
    return n;
  };

  const walk = (node: unknown, isMergeSequence = false): void => {
    if (problem !== undefined) return;
    if (!isMergeSequence) {
      decoded += 1;
      if (excessive()) {
        problem = { message: EXCESSIVE, offset: isNode(node) ? node.range?.[0] : undefined };
        return; // go-yaml counts before it follows an alias
      }
    }
    if (isAlias(node)) {
      const target = anchors.get(node.source);
      if (target === undefined) return;
      if (open.has(target)) {
        problem = { message: `anchor '${node.source}' value contains itself`, offset: node.range?.[0] };
        return;
      }
      targets.set(node, target);
      const n = size(target);
      decoded += n;
      fromAliases += n;
      if (excessive()) problem = { message: EXCESSIVE, offset: node.range?.[0] };
      return;
    }
    if (isNode(node) && node.anchor !== undefined) anchors.set(node.anchor, node);
    open.add(node);
    if (isSeq(node)) for (const item of node.items) walk(item);
    else if (isMap(node)) {
      for (const pair of node.items) {
        if (!isPair(pair)) continue;
        const merge = isMergeKey(pair.key);
        if (!merge) walk(pair.key);
        walk(pair.value, merge && isSeq(pair.value));
      }
    }
    open.delete(node);
  };
  try {
    walk(doc.contents);
  } catch (e) {
    if (e instanceof RangeError) return { message: 'nested too deeply to be read', offset: undefined };
    throw e;
  }
  return problem;
}
