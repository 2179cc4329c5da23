/**
 * The rules document as the core reads it: plain types, owned by the core. src/config/schema.ts
 * validates untrusted input into these types (and fails to compile if its schema drifts from
 * them); src/core/rules.ts compiles them. docs/design.md describes the document.
 */

/** One rule: `match` (a path-boundary prefix) or `regex` (the whole name), and what replaces it. */
export interface RuleSpec {
  readonly name: string;
  readonly match?: string | undefined;
  readonly regex?: string | undefined;
  readonly replace: string;
  /** Namespace globs (`*`, `?`) the rule is limited to. */
  readonly namespaces?: readonly string[] | undefined;
  /** Namespace globs the rule never applies in. */
  readonly excludeNamespaces?: readonly string[] | undefined;
  /** Secrets added to the pod spec of a pod whose image the rule rewrote. */
  readonly imagePullSecrets?: readonly string[] | undefined;
  /** Rewrite only when the target registry has the image (docs/verify.md). */
  readonly verify?: boolean | undefined;
  /** With `verify`: the target lacks the image (default keep). */
  readonly onMissing?: 'keep' | 'rewrite' | 'deny' | undefined;
  /** With `verify`: the target cannot be asked in time (default keep). */
  readonly onUnreachable?: 'keep' | 'rewrite' | undefined;
  /** With `verify`: `os/arch[/variant]` the target must provide. */
  readonly platforms?: readonly string[] | undefined;
}

export interface RulesDocument {
  /** In order: the first rule that matches wins. */
  readonly rules: readonly RuleSpec[];
  /** Normalized-name prefixes never rewritten. */
  readonly exclude?: readonly string[] | undefined;
  /**
   * Whether the opt-out label or annotation (`image-rewriter.io/skip: "true"`) is honoured
   * (default true). False: anyone who can create a Pod can no longer leave it unrewritten.
   */
  readonly allowOptOut?: boolean | undefined;
}
