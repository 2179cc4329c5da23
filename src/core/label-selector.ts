/**
 * Kubernetes label selectors (metav1.LabelSelector: matchLabels and matchExpressions), read and
 * evaluated with the semantics of k8s.io/apimachinery's LabelSelectorAsSelector and
 * labels.Selector, for `audit` to decide which objects a webhook configuration's namespaceSelector
 * and objectSelector send. Written by hand: no package of the stack exposes an evaluator
 * (@kubernetes/client-node has only the types), and the rules are a few lines:
 * - every requirement must hold (matchLabels `k: v` is `k In (v)`); an empty selector matches everything;
 * - In: the key is present and its value listed; NotIn: the key is absent, or its value not listed;
 * - Exists: the key is present; DoesNotExist: it is absent;
 * - In and NotIn need at least one value, Exists and DoesNotExist none, and no other operator is
 *   valid: such a selector is an error (the API server refuses it), never a guess.
 *
 * Pure: no I/O.
 */
import { isList, isRecord, isStringList, own } from './json.js';

const OPERATORS = ['In', 'NotIn', 'Exists', 'DoesNotExist'] as const;
export type Operator = (typeof OPERATORS)[number];

export interface Requirement {
  readonly key: string;
  readonly operator: Operator;
  readonly values: readonly string[];
}

/** A selector as a list of requirements, all of which must hold. */
export type Selector = readonly Requirement[];

export type Labels = ReadonlyMap<string, string>;

const isOperator = (s: unknown): s is Operator => OPERATORS.some((o) => o === s);

/**
 * The requirements of a LabelSelector value (`{matchLabels, matchExpressions}`), or why it is not
 * one. Undefined and null read as the empty selector: the API server defaults a webhook's selectors
 * to `{}`, which matches everything.
 */
export function parseSelector(value: unknown): { readonly selector: Selector } | { readonly problem: string } {
  if (value === undefined || value === null) return { selector: [] };
  if (!isRecord(value)) return { problem: 'is not a label selector (a mapping)' };
  const requirements: Requirement[] = [];
  const matchLabels = own(value, 'matchLabels');
  if (matchLabels !== undefined && matchLabels !== null) {
    if (!isRecord(matchLabels)) return { problem: 'matchLabels is not a mapping' };
    for (const [key, v] of Object.entries(matchLabels)) {
      if (typeof v !== 'string') return { problem: `matchLabels.${key} is not a string` };
      requirements.push({ key, operator: 'In', values: [v] });
    }
  }
  const expressions = own(value, 'matchExpressions');
  if (expressions !== undefined && expressions !== null) {
    if (!isList(expressions)) return { problem: 'matchExpressions is not a list' };
    for (const [i, e] of expressions.entries()) {
      const key = own(e, 'key');
      const operator = own(e, 'operator');
      const raw = own(e, 'values') ?? [];
      const where = `matchExpressions[${i}]`;
      if (typeof key !== 'string' || key === '') return { problem: `${where}.key is missing` };
      if (!isOperator(operator)) return { problem: `${where}.operator is not one of ${OPERATORS.join(', ')}: ${String(operator)}` };
      if (!isStringList(raw)) return { problem: `${where}.values is not a list of strings` };
      const values = raw;
      const needsValues = operator === 'In' || operator === 'NotIn';
      if (needsValues && values.length === 0) return { problem: `${where}: ${operator} needs at least one value` };
      if (!needsValues && values.length > 0) return { problem: `${where}: ${operator} takes no values` };
      requirements.push({ key, operator, values });
    }
  }
  return { selector: requirements };
}

/** Whether one requirement holds for `labels` (labels.Requirement.Matches). */
export function requirementMatches(r: Requirement, labels: Labels): boolean {
  const value = labels.get(r.key);
  switch (r.operator) {
    case 'In':
      return value !== undefined && r.values.includes(value);
    case 'NotIn':
      return value === undefined || !r.values.includes(value);
    case 'Exists':
      return value !== undefined;
    case 'DoesNotExist':
      return value === undefined;
  }
}

/**
 * Whether `selector` matches `labels`. With `known`, only the requirements on keys it accepts are
 * evaluated, the others counted as holding: for labels only partly known (a namespace read by name
 * alone), false then means "does not match, whatever the other labels are", and true "may match".
 */
export function selectorMatches(selector: Selector, labels: Labels, known: (key: string) => boolean = () => true): boolean {
  return selector.every((r) => !known(r.key) || requirementMatches(r, labels));
}

/** The string labels of an object's `metadata.labels` (other values are not labels: left out). */
export function labelsOf(object: unknown): Labels {
  const labels = own(own(object, 'metadata'), 'labels');
  return new Map(isRecord(labels) ? Object.entries(labels).filter((e): e is [string, string] => typeof e[1] === 'string') : []);
}
