/**
 * Whether the API server calls any webhook of a MutatingWebhookConfiguration for an object, decided
 * as k8s.io/apiserver's webhook dispatcher does (admission/plugin/webhook: rules, namespace and
 * object predicates), so that `audit` can leave out what the webhook can never rewrite. A webhook
 * is called when all of these hold:
 * - one of its `rules` holds: its operations name CREATE, UPDATE or `*` (what would bring the
 *   object to the webhook: re-creating or updating it); its apiGroups and resources name the
 *   object's or `*` (`pods/*` and `*\/*` cover the resource itself: the API server splits at `/`
 *   and `*` matches the empty subresource); its apiVersions name the object's version or `*`, or,
 *   under matchPolicy Equivalent (the default), any version: the API server then also sends a
 *   request made in another version of the same resource, converted, and which versions it serves
 *   is not known here; its scope is `*` (the default), `Namespaced` for a namespaced object other
 *   than a Namespace, `Cluster` for a Namespace or a cluster-scoped object;
 * - namespaceSelector matches the labels of the object's namespace (the API server sets
 *   kubernetes.io/metadata.name to its name on every namespace); for a Namespace, its own labels;
 *   a cluster-scoped object is never skipped by it;
 * - objectSelector matches the object's labels.
 * matchConditions are not evaluated: they are CEL, and the ones `webhook-config` writes
 * (src/core/match-conditions.ts) only skip objects with no image the rules could rewrite, which
 * audit does not list anyway, and ReplicaSets a Deployment controls, which the webhook leaves alone
 * when sent (audit lists one only when its Deployment is not among the objects). A condition made
 * from older rules, or written by hand, may skip more: those objects stay listed.
 * Where something is not known (the labels of a namespace, its name), the object counts as sent:
 * audit leaves out only what the webhook is certainly never called for.
 *
 * Pure: no I/O.
 */
import { isList, isRecord, isStringList, own } from './json.js';
import { type Labels, parseSelector, type Selector, selectorMatches } from './label-selector.js';

/** Set by the API server on every namespace to its name (Kubernetes 1.21 and later). */
export const NAMESPACE_NAME_LABEL = 'kubernetes.io/metadata.name';

/** The operations that bring an existing object to a mutating webhook again. */
const OPERATIONS: readonly string[] = ['CREATE', 'UPDATE', '*'];

interface Rule {
  readonly operations: readonly string[];
  readonly apiGroups: readonly string[];
  readonly apiVersions: readonly string[];
  readonly resources: readonly string[];
  readonly scope: string;
}

/** One webhook of a configuration, as far as choosing what it is called for. */
export interface WebhookMatcher {
  readonly name: string;
  readonly rules: readonly Rule[];
  readonly namespaceSelector: Selector;
  readonly objectSelector: Selector;
  /** matchPolicy Equivalent (the default), else Exact. */
  readonly equivalent: boolean;
}

/** What the API server knows of an object when it decides which webhooks to call. */
export interface AdmissionTarget {
  readonly group: string;
  readonly version: string;
  /** The resource (`pods`, `deployments`), no subresource. */
  readonly resource: string;
  /** False for a cluster-scoped kind (a Namespace included). */
  readonly namespaced: boolean;
  /** The namespace of a namespaced object, or undefined when not known. */
  readonly namespace: string | undefined;
  /** The labels of that namespace, or undefined when not known. */
  readonly namespaceLabels: Labels | undefined;
  readonly labels: Labels;
}

const strings = (value: unknown): readonly string[] | undefined => (isStringList(value) ? value : undefined);

function ruleOf(value: unknown): Rule | string {
  const [operations, apiGroups, apiVersions, resources] = ['operations', 'apiGroups', 'apiVersions', 'resources'].map((k) => strings(own(value, k) ?? []));
  const scope = own(value, 'scope') ?? '*';
  if (operations === undefined || apiGroups === undefined || apiVersions === undefined || resources === undefined) return 'operations, apiGroups, apiVersions and resources must be lists of strings';
  if (typeof scope !== 'string') return 'scope is not a string';
  return { operations, apiGroups, apiVersions, resources, scope };
}

/** The webhooks of a MutatingWebhookConfiguration, or what is wrong with it (in words for a message). */
export function webhooksOf(config: unknown): { readonly webhooks: readonly WebhookMatcher[] } | { readonly problem: string } {
  const list = own(config, 'webhooks') ?? [];
  if (!isList(list)) return { problem: 'webhooks is not a list' };
  const webhooks: WebhookMatcher[] = [];
  for (const [i, w] of list.entries()) {
    const where = `webhooks[${i}]`;
    if (!isRecord(w)) return { problem: `${where} is not a mapping` };
    const rawRules = own(w, 'rules') ?? [];
    if (!isList(rawRules)) return { problem: `${where}.rules is not a list` };
    const rules: Rule[] = [];
    for (const [j, r] of rawRules.entries()) {
      const rule = ruleOf(r);
      if (typeof rule === 'string') return { problem: `${where}.rules[${j}]: ${rule}` };
      rules.push(rule);
    }
    const namespaceSelector = parseSelector(own(w, 'namespaceSelector'));
    if ('problem' in namespaceSelector) return { problem: `${where}.namespaceSelector ${namespaceSelector.problem}` };
    const objectSelector = parseSelector(own(w, 'objectSelector'));
    if ('problem' in objectSelector) return { problem: `${where}.objectSelector ${objectSelector.problem}` };
    const name = own(w, 'name');
    webhooks.push({
      name: typeof name === 'string' ? name : '',
      rules,
      namespaceSelector: namespaceSelector.selector,
      objectSelector: objectSelector.selector,
      equivalent: own(w, 'matchPolicy') !== 'Exact',
    });
  }
  return { webhooks };
}

const named = (items: readonly string[], value: string): boolean => items.includes('*') || items.includes(value);

/** The resource itself (no subresource): `pods`, `pods/*`, `*`, `*\/*`, not `pods/status`. */
const namesResource = (resources: readonly string[], resource: string): boolean =>
  resources.some((r) => {
    const slash = r.indexOf('/');
    const [res, sub] = slash < 0 ? [r, ''] : [r.slice(0, slash), r.slice(slash + 1)];
    return (res === '*' || res === resource) && (sub === '' || sub === '*');
  });

const isNamespace = (t: AdmissionTarget): boolean => t.group === '' && t.resource === 'namespaces';

function ruleHolds(rule: Rule, t: AdmissionTarget, equivalent: boolean): boolean {
  if (!rule.operations.some((o) => OPERATIONS.includes(o))) return false;
  if (!named(rule.apiGroups, t.group) || !namesResource(rule.resources, t.resource)) return false;
  if (!equivalent && !named(rule.apiVersions, t.version)) return false;
  if (rule.scope === 'Namespaced') return t.namespaced && !isNamespace(t);
  if (rule.scope === 'Cluster') return !t.namespaced || isNamespace(t);
  return rule.scope === '*';
}

function namespaceSelectorHolds(selector: Selector, t: AdmissionTarget): boolean {
  if (isNamespace(t)) return selectorMatches(selector, t.labels);
  if (!t.namespaced) return true;
  if (t.namespace === undefined) return true; // nothing known: it may match
  const labels = new Map(t.namespaceLabels ?? []);
  labels.set(NAMESPACE_NAME_LABEL, t.namespace);
  // Labels not known: only what the name decides (kubernetes.io/metadata.name) can rule it out.
  return t.namespaceLabels !== undefined ? selectorMatches(selector, labels) : selectorMatches(selector, labels, (key) => key === NAMESPACE_NAME_LABEL);
}

/** Whether the API server would call any of `webhooks` for the object (else the webhook can never act on it). */
export function isCalled(webhooks: readonly WebhookMatcher[], t: AdmissionTarget): boolean {
  return webhooks.some(
    (w) => w.rules.some((r) => ruleHolds(r, t, w.equivalent)) && namespaceSelectorHolds(w.namespaceSelector, t) && selectorMatches(w.objectSelector, t.labels),
  );
}
