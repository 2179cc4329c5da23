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
