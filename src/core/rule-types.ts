/**
 * The rules engine's types: a rules document's problems (`Issue`), a compiled rule, a rewrite's
 * result and the `Rewriter` (src/core/rules.ts compiles and runs them; src/core/rule-reach.ts and
 * src/core/rule-warnings.ts find the rules that can never be used).
 */

export type Severity = 'error' | 'warning';

/** A step of a path into a document: a key or an index. */
export type PathSegment = string | number;

/**
 * A problem found in a rules document (or in the settings that name it). The path stays
 * structured (`['rules', 2, 'replace']`, empty for the document as a whole) until it is printed
 * (`rules[2].replace`, by src/config/schema.ts).
 */
export interface Issue {
  readonly path: readonly PathSegment[];
  readonly message: string;
  readonly severity: Severity;
  /** Where in the text, for a problem found before there is a document (YAML syntax); then `path` is empty. */
  readonly position?: { readonly line: number; readonly column: number };
}

/** What to do with a rewrite whose target lacks the image (`deny` answers allowed: false). */
export const ON_MISSING = ['keep', 'rewrite', 'deny'] as const;
export type OnMissing = (typeof ON_MISSING)[number];
/** What to do when the target cannot be asked in time (deadline, error, open circuit breaker). */
export const ON_UNREACHABLE = ['keep', 'rewrite'] as const;
export type OnUnreachable = (typeof ON_UNREACHABLE)[number];

/** A rule's existence check (`verify: true`; docs/verify.md). */
export interface VerifySpec {
  readonly onMissing: OnMissing;
  readonly onUnreachable: OnUnreachable;
  /** `os/arch[/variant]` the target must provide; empty when any will do. */
  readonly platforms: readonly string[];
}

export interface CompiledRule {
  readonly index: number;
  readonly name: string;
  readonly kind: 'match' | 'regex';
  /** The `match` prefix or the `regex` source, as written. */
  readonly pattern: string;
  /** `replace` after `${env:...}` substitution. */
  readonly replace: string;
  readonly imagePullSecrets: readonly string[];
  /** True when `namespaces` or `excludeNamespaces` limit the rule. */
  readonly scoped: boolean;
  /** Set when the rule rewrites only to images its target has. */
  readonly verify: VerifySpec | undefined;
  appliesToNamespace(namespace: string | undefined): boolean;
  /** The new name for a normalized name, or undefined when the rule does not match. */
  apply(name: string): string | undefined;
  /** A regex rule's: the text its results' registry host must end with (replace-template.ts, templateHostSuffix). */
  readonly hostSuffix?: string;
  /** A regex rule's: the host its results must have, with a port at most (replace-template.ts, templateHostExact). */
  readonly hostExact?: string;
  /**
   * A regex rule's: how its results start, when its replace starts with text that names the host
   * whole (`mirror.example.com/` for `mirror.example.com/$1`, the host as names spell it). A rule
   * that matches its own results leaves alone an image that starts so (src/core/rules.ts, compute).
   */
  readonly resultStart?: string;
}

export interface RewriteContext {
  /** The namespace of the object; when it is unknown, rules limited to `namespaces` never match (`excludeNamespaces` excludes none). */
  readonly namespace?: string | undefined;
}

export type RewriteResult =
  | { readonly kind: 'rewritten'; readonly image: string; readonly rewritten: string; readonly rule: CompiledRule }
  | { readonly kind: 'unchanged'; readonly image: string; readonly reason: 'no-match' | 'excluded' | 'identical' | 'at-target' }
  | { readonly kind: 'invalid'; readonly image: string; readonly error: string }
  | { readonly kind: 'rejected'; readonly image: string; readonly rule: CompiledRule; readonly candidate: string; readonly error: string };

export interface Rewriter {
  readonly rules: readonly CompiledRule[];
  readonly exclude: readonly string[];
  /** False when the document sets `allowOptOut: false`: the opt-out label and annotation are ignored. */
  readonly allowOptOut: boolean;
  rewrite(image: string, context?: RewriteContext): RewriteResult;
}

export type CompileResult =
  | { readonly ok: true; readonly rewriter: Rewriter; readonly warnings: readonly Issue[] }
  | { readonly ok: false; readonly issues: readonly Issue[] };
