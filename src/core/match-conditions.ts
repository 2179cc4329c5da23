/**
 * The CEL matchConditions of the webhook configuration. The first, derived from the rules, so the API server
 * calls the webhook only when some image of the object (a container's or an image volume's) could
 * be rewritten (README.md, "Scope: `--scope pods` (default) or `--scope all`"). Conservative by construction: it may let through objects the rules leave alone,
 * never the reverse (tests/unit/match-conditions.property.test.ts checks that with a CEL evaluator).
 *
 * How: every rule has a literal prefix L of the normalized names it can match (`match: P` has
 * L = P; a regex has the literal text before its first pattern character, or '' when it has a
 * top-level alternation). A normalized name that starts with L comes from an image that starts with
 * L written the ways the engine reads as the same registry (`matchedName` in matched-name.ts): the host in
 * any case (`GCR.IO`), with `:443` after it (`gcr.io:443`), a port with leading zeros
 * (`gcr.io:0443`, `registry:05000`); so the host part of L is matched without regard to case, an
 * explicit `:443` (with any leading zeros) may follow it, and zeros may come before the digits of
 * its port. Docker Hub's images may also be
 * short (`nginx`, `team/app`) or written with another of its hosts (`index.docker.io`,
 * `registry-1.docker.io`, `registry.hub.docker.com`: DOCKER_HUB_HOSTS): so when
 * L could be a Docker Hub name, every image without a registry host (no `.` or `:` in its first
 * path component) or written with one of Docker Hub's hosts counts as matching. `exclude` and
 * namespace limits are ignored (they only send more). A rule with L = '' matches anything: then
 * there is no condition.
 *
 * `--scope all` also gets `NOT_DEPLOYMENT_REPLICASET_EXPRESSION`, with or without rules: false
 * exactly for a ReplicaSet whose controller a Deployment is, which the handler leaves alone
 * (`controlledByDeployment` in decide.ts, reason `deployment-replicaset`), so that each update the
 * Deployment controller makes to its ReplicaSets in a rollout is not a call answered unchanged
 * (tests/unit/match-conditions.replicaset.test.ts checks it against the handler's decision).
 *
 * The expressions guard every field with `has()`: a matchCondition that fails to evaluate makes
 * the API server skip the webhook under failurePolicy Ignore, which must never happen by accident.
 */
import type { CompiledRule } from './rules.js';
import { DOCKER_HUB_HOSTS } from './matched-name.js';
import { literalPrefix } from './patterns.js';

export type Scope = 'pods' | 'all';

/** The condition's name in the webhook configuration. */
const MATCH_CONDITION_NAME = 'image-could-be-rewritten';
/** The name of the condition `--scope all` adds: ReplicaSets a Deployment controls are not sent. */
export const NOT_DEPLOYMENT_REPLICASET_NAME = 'not-deployment-replicaset';

/** An entry of a webhook's `matchConditions` (the API server ANDs them). */
export interface MatchCondition {
  readonly name: string;
  readonly expression: string;
}

/** The object's ownerReferences with `controller: true` (the API server's validation allows one, after the webhooks). */
const CONTROLLER_REFERENCES = 'object.metadata.ownerReferences.filter(r, has(r.controller) && r.controller == true)';

/**
 * False exactly for an apps ReplicaSet (the request's kind, as the handler reads it) whose first
 * controller ownerReference is a `Deployment` of an `apps/` apiVersion, as `controlledByDeployment`
 * in decide.ts decides; true for everything else (another kind, no owner, another owner, an owner
 * that is not the controller, no object).
 */
export const NOT_DEPLOYMENT_REPLICASET_EXPRESSION =
  "!(has(request.kind) && has(request.kind.group) && has(request.kind.kind) && request.kind.group == 'apps' && request.kind.kind == 'ReplicaSet' && " +
  'object != null && has(object.metadata) && has(object.metadata.ownerReferences) && ' +
  `size(${CONTROLLER_REFERENCES}) > 0 && ` +
  `${CONTROLLER_REFERENCES}.map(r, has(r.kind) && r.kind == 'Deployment' && has(r.apiVersion) && r.apiVersion.startsWith('apps/'))[0])`;

const DOCKER_HUB_PREFIXES = [...DOCKER_HUB_HOSTS].map((h) => `${h}/`);

const escapeRegex = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * `text` as a regex that ignores the case of its letters: `[gG][cC][rR]\.[iI][oO]`. Classes, not a
 * `(?i)` flag, because the same pattern must mean the same in RE2 (the API server's CEL) and in
 * JavaScript (the tests' CEL evaluator), and JavaScript has no inline flags before ES2025.
 */
const anyCase = (text: string): string => Array.from(text, (c) => (c.toLowerCase() === c.toUpperCase() ? escapeRegex(c) : `[${c.toLowerCase()}${c.toUpperCase()}]`)).join('');

/**
 * A registry host, or the start of one (a regex's literal prefix may end inside the port:
 * `registry:50`), as a regex over images: in any case, zeros allowed before the digits of its port
 * (`registry:5000` is also written `registry:05000`), and, when `whole` and it has no port, an
 * optional `:443`, with zeros too, after it.
 */
function hostRegex(host: string, whole: boolean): string {
  const port = /:[0-9]*$/.exec(host);
  if (port !== null) return `${anyCase(host.slice(0, port.index))}:0*${host.slice(port.index + 1)}`;
  return `${anyCase(host)}${whole ? '(?::0*443)?' : ''}`;
}

/**
 * A normalized-name prefix as a regex over images: its host part (up to the first `/`) as
 * `hostRegex` writes it, then the rest as it is.
 */
function prefixRegex(prefix: string): string {
  const slash = prefix.indexOf('/');
  if (slash < 0) return hostRegex(prefix, false);
  return `${hostRegex(prefix.slice(0, slash), true)}${escapeRegex(prefix.slice(slash))}`;
}

/** Images that normalize to docker.io: short ones, and Docker Hub's hosts written out. */
const DOCKER_HUB_IMAGE = ['[^/]*$', '[^/.:]*/', ...DOCKER_HUB_PREFIXES.map(prefixRegex)].join('|');

/** The literal prefix of the normalized names a rule can match. */
function rulePrefix(rule: Pick<CompiledRule, 'kind' | 'pattern'>): string {
  return rule.kind === 'match' ? rule.pattern : literalPrefix(rule.pattern);
}

/** Could a normalized name starting with `prefix` be a Docker Hub name? */
const dockerHubPossible = (prefix: string): boolean => DOCKER_HUB_PREFIXES.some((d) => d.startsWith(prefix) || prefix.startsWith(d)) || 'docker.io'.startsWith(prefix);

/** A CEL single-quoted string literal. */
const celString = (s: string): string => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

/**
 * The anchored regex (RE2 and JavaScript alike) an image must match to be possibly rewritten, or
 * undefined when every image may be (some rule has an empty prefix, or there are no rules... then
 * nothing is rewritten: the regex matches nothing).
 */
export function imageRegex(rules: readonly Pick<CompiledRule, 'kind' | 'pattern'>[]): string | undefined {
  const prefixes = rules.map(rulePrefix);
  if (prefixes.some((p) => p === '')) return undefined;
  if (prefixes.length === 0) return '^$.';
  const alternatives = [...new Set(prefixes)].sort().map(prefixRegex);
  if (prefixes.some(dockerHubPossible)) alternatives.push(DOCKER_HUB_IMAGE);
  return `^(?:${alternatives.join('|')})`;
}

/** Pod spec locations per scope: Pods (and their ephemeralcontainers subresource), then templates. */
const POD_SPECS: Readonly<Record<Scope, readonly (readonly string[])[]>> = {
  pods: [['spec']],
  all: [['spec'], ['spec', 'template', 'spec'], ['spec', 'jobTemplate', 'spec', 'template', 'spec'], ['template', 'spec']],
};

const LISTS = ['containers', 'initContainers', 'ephemeralContainers'] as const;

/** `has(object.a) && has(object.a.b) && ...` for every step of the path. */
function guarded(path: readonly string[]): string {
  return path.map((_, i) => `has(object.${path.slice(0, i + 1).join('.')})`).join(' && ');
}

/**
 * The image volumes of a pod spec as containers: `{'image': <reference>}` for each volume with an
 * `image.reference`, so one test (and one copy of the regex) covers both. Volumes of other types
 * are left out of the list, and so out of the count of images matched.
 */
function imageVolumes(spec: readonly string[]): string {
  const path = [...spec, 'volumes'];
  return `(${guarded(path)} ? object.${path.join('.')}.filter(v, has(v.image) && has(v.image.reference)).map(v, {'image': v.image.reference}) : [])`;
}

/**
 * The API server's limits on a matchCondition (k8s.io/apiserver celconfig): an expression longer
 * than MAX_EXPRESSION_SIZE code points is refused with the whole configuration, and one whose
 * evaluation costs more than PER_CALL_COST_LIMIT fails, which makes the API server skip the
 * webhook (failurePolicy Ignore): the object is admitted unrewritten, silently.
 */
export const CEL_MAX_EXPRESSION_SIZE = 100_000;
const CEL_PER_CALL_COST_LIMIT = 1_000_000;
/** Images longer than this are sent without matching them (a valid reference is rarely longer). */
export const MATCHED_IMAGE_MAX_LENGTH = 256;
/** The share of the cost limit the regex matches may use (the rest: the lists, `has`, `size`, margin). */
const COST_BUDGET = CEL_PER_CALL_COST_LIMIT / 2;
/**
 * Per image, besides the match: the loop step, `has`, `size`, the comparison, the `||` and `&&`;
 * for an image volume also the `filter` and `map` that make it `{'image': reference}` (a list and
 * a map built per volume, about 63 in cel-go), evaluated twice (`size`, then `exists`).
 */
const PER_IMAGE_OVERHEAD = 150;
/**
 * Volumes (of every type, all pod specs together) past which the object is sent without looking
 * at them: turning N image volumes into images costs about 63 N, so 16,000 of them (a 700 KB Pod)
 * ran out of cost before `size` could say there were too many, and the API server skipped the webhook.
 */
export const MAX_VOLUMES = 5000;

/**
 * At most how many images the condition matches against `re` within the cost budget, each at most
 * MATCHED_IMAGE_MAX_LENGTH long. cel-go's runtime cost of `s.matches(re)` is
 * ceil((1 + size(s)) * 0.1) * ceil(size(re) * 0.25).
 */
export function matchableImages(re: string): number {
  const regexCost = Math.ceil(Array.from(re).length * 0.25);
  const perImage = Math.ceil((1 + MATCHED_IMAGE_MAX_LENGTH) * 0.1) * regexCost + PER_IMAGE_OVERHEAD;
  return Math.floor(COST_BUDGET / perImage);
}

/**
 * The CEL expression, or undefined when no useful condition exists (every image may match, or the
 * rules are too many for a condition the API server accepts and can evaluate).
 *
 * The regex is written once, over the concatenation of every container list and of the image
 * volumes' references (the API server
 * refuses an expression past CEL_MAX_EXPRESSION_SIZE, and a regex written per list reached it
 * with a few dozen rules). The cost of evaluating it is bounded: an object with more images than
 * `matchableImages` can match within the budget, more than MAX_VOLUMES volumes, or an image longer
 * than MATCHED_IMAGE_MAX_LENGTH, is sent without matching (a condition that runs out of cost would
 * make the API server skip the webhook).
 */
export function matchConditionExpression(rules: readonly Pick<CompiledRule, 'kind' | 'pattern'>[], scope: Scope): string | undefined {
  const re = imageRegex(rules);
  if (re === undefined) return undefined;
  const most = matchableImages(re);
  if (most < 1) return undefined;
  const list = (path: readonly string[]): string => `(${guarded(path)} ? object.${path.join('.')} : [])`;
  const lists = POD_SPECS[scope].flatMap((spec) => [...LISTS.map((l) => list([...spec, l])), imageVolumes(spec)]);
  const all = `(${lists.join(' + ')})`;
  // Counted as they are (joining lists costs nothing per item), before any is looked at.
  const volumes = `(${POD_SPECS[scope].map((spec) => list([...spec, 'volumes'])).join(' + ')})`;
  const expression =
    `object != null && (size(${volumes}) > ${MAX_VOLUMES} || size(${all}) > ${most} || ${all}.exists(c, has(c.image) && ` +
    `(size(c.image) > ${MATCHED_IMAGE_MAX_LENGTH} || c.image.matches(${celString(re)}))))`;
  return Array.from(expression).length > CEL_MAX_EXPRESSION_SIZE ? undefined : expression;
}

/**
 * The webhook's matchConditions: the image condition when rules are given and one exists, then,
 * with `--scope all`, the one that leaves out ReplicaSets a Deployment controls.
 */
export function matchConditions(rules: readonly Pick<CompiledRule, 'kind' | 'pattern'>[] | undefined, scope: Scope): MatchCondition[] {
  const expression = rules === undefined ? undefined : matchConditionExpression(rules, scope);
  return [
    ...(expression === undefined ? [] : [{ name: MATCH_CONDITION_NAME, expression }]),
    ...(scope === 'all' ? [{ name: NOT_DEPLOYMENT_REPLICASET_NAME, expression: NOT_DEPLOYMENT_REPLICASET_EXPRESSION }] : []),
  ];
}
