/**
 * What `audit` knows of the webhook's registration, to leave out what the webhook is never called
 * for: the MutatingWebhookConfiguration it is installed as (`--webhook-config NAME`, by default the
 * name `webhook-config` prints) and the labels of the namespaces, read from the live cluster or
 * found in the `-f` input (`kubectl get namespaces,mutatingwebhookconfigurations,pods,... -o json`).
 * Whether the API server calls it for an object is src/core/webhook-match.ts's decision, made on
 * whatever configuration that is (one edited by hand, or not calling our endpoint: the user named it).
 *
 * Without it (audit run before the webhook is installed, RBAC that does not allow reading it, a `-f`
 * input without it), audit leaves out what `webhook-config` always excludes (kube-system), as it
 * did before it read configurations, and says so in one `note:` line on stderr: not an error.
 */
import { type Cluster, ListError } from './cluster.js';
import { DEFAULT_CONFIGURATION_NAME, EXCLUDED_NAMESPACES } from './webhook-config.js';
import { at, printable } from '../core/json.js';
import { type Labels, labelsOf } from '../core/label-selector.js';
import type { ManifestObject } from '../core/manifest.js';
import { isCalled, NAMESPACE_NAME_LABEL, type WebhookMatcher, webhooksOf } from '../core/webhook-match.js';
import { workloadTypeOfKind, type WorkloadType } from '../core/workload.js';

export { DEFAULT_CONFIGURATION_NAME };

/** The configuration audit decides with, and the namespaces whose labels it knows. */
export interface Selection {
  /** metadata.name of the configuration, for the summary. */
  readonly name: string;
  readonly webhooks: readonly WebhookMatcher[];
  /** Labels by namespace; a namespace not in it has labels not known (only its name decides). */
  readonly namespaces: ReadonlyMap<string, Labels>;
}

/** The selection, or undefined (today's fixed exclusions); `note` is the line to print about it. */
export interface SelectionRead {
  readonly selection: Selection | undefined;
  readonly note: string | undefined;
  /**
   * The configuration is simply not there, or may not be read (403): what audit met before it read
   * configurations, whose output stays as it was unless the user named one (audit.ts, `note`).
   */
  readonly usual?: true;
}

const FALLBACK = `audit assumes the webhook is called for everything outside ${EXCLUDED_NAMESPACES.join(', ')} (what webhook-config always excludes)`;

/**
 * Whether the API server would call the configuration's webhooks for `o` (of workload type `type`),
 * or for the Pods made from it: a workload's template is listed as before when its Pods are sent
 * (in its namespace, with its template's labels), even by a configuration registered for Pods only
 * (`--scope pods`, webhook-config's default): audit's own `--scope` chooses whether templates are
 * listed. Left out is what neither the object nor its Pods ever reach (a PodTemplate makes no Pods).
 */
export function calledFor(selection: Selection, o: ManifestObject, type: WorkloadType): boolean {
  const where = {
    namespaced: true, // every kind with a pod spec is namespaced
    namespace: o.namespace,
    namespaceLabels: o.namespace === undefined ? undefined : selection.namespaces.get(o.namespace),
  };
  if (isCalled(selection.webhooks, { ...where, group: o.group, version: o.version, resource: type.resource, labels: labelsOf(o.object) })) return true;
  // No controller makes Pods from a PodTemplate: its template reaches the webhook only as itself.
  const template = type.templateMetadataPath === undefined || type.kind === 'PodTemplate' ? undefined : at(o.object, type.templateMetadataPath.slice(0, -1));
  return template !== undefined && isCalled(selection.webhooks, { ...where, group: '', version: 'v1', resource: 'pods', labels: labelsOf(template) });
}

const isNamespace = (o: ManifestObject): boolean => o.group === '' && o.kind === 'Namespace';
const isConfiguration = (o: ManifestObject): boolean => o.group === 'admissionregistration.k8s.io' && o.kind === 'MutatingWebhookConfiguration';

/** A Namespace or a MutatingWebhookConfiguration: what `-f` input may carry for the selection, never audited itself. */
export const isSelectionInput = (o: ManifestObject): boolean => isNamespace(o) || isConfiguration(o);

function namespaceEntry(object: unknown, name: string): [string, Labels] {
  // The API server keeps kubernetes.io/metadata.name equal to the name (a hand-written Namespace may lack it).
  return [name, new Map([...labelsOf(object), [NAMESPACE_NAME_LABEL, name]])];
}

function selectionOf(name: string, config: unknown, namespaces: ReadonlyMap<string, Labels>, where: string): SelectionRead {
  const read = webhooksOf(config);
  if ('problem' in read) return { selection: undefined, note: printable(`note: the MutatingWebhookConfiguration ${name} ${where} cannot be read (${read.problem}): ${FALLBACK}`) };
  return { selection: { name, webhooks: read.webhooks, namespaces }, note: undefined };
}

/**
 * The selection of the `-f` input's objects (those isSelectionInput says), for the objects to audit
 * (`audited`: to say which namespaces it lacks). Undefined when the input has neither (its note
 * then written only for a named configuration).
 */
export function fileSelection(objects: readonly ManifestObject[], audited: readonly ManifestObject[], name: string): SelectionRead {
  const configurations = objects.filter(isConfiguration);
  const namespaces = new Map(objects.filter((o) => isNamespace(o) && o.name !== undefined).map((o) => namespaceEntry(o.object, o.name ?? '')));
  const config = configurations.find((o) => o.name === name);
  if (config === undefined) {
    // Neither: the input of audit before it read configurations; said only when one was named.
    if (configurations.length === 0 && namespaces.size === 0) return { selection: undefined, note: `note: no MutatingWebhookConfiguration ${printable(name)} in the input: ${FALLBACK}`, usual: true };
    const others = configurations.length === 0 ? '' : ` (it has ${configurations.map((o) => o.name ?? '(no name)').join(', ')}: --webhook-config NAME picks one)`;
    return { selection: undefined, note: printable(`note: no MutatingWebhookConfiguration ${name} in the input${others}: ${FALLBACK}`), ...(configurations.length === 0 ? { usual: true } : {}) };
  }
  const read = selectionOf(name, config.object, namespaces, 'in the input');
  if (read.selection === undefined) return read;
  // Named only where the labels could change what is left out: an object the name alone rules out
  // (kube-system, which webhook-config excludes by name) is left out whatever its namespace's labels.
  const { selection } = read;
  const labelsMatter = (o: ManifestObject): boolean => {
    const type = workloadTypeOfKind(o.group, o.kind);
    return type !== undefined && calledFor(selection, o, type);
  };
  const missing = [...new Set(audited.flatMap((o) => (o.namespace !== undefined && !namespaces.has(o.namespace) && labelsMatter(o) ? [o.namespace] : [])))];
  if (missing.length === 0) return read;
  const some = missing.length > 3 ? `${missing.slice(0, 3).join(', ')}...` : missing.join(', ');
  return {
    selection,
    note: printable(
      `note: the input has no Namespace ${some} (${missing.length} namespace(s)): their labels are not known, so the namespaceSelector of ${name} leaves out only what their names decide (add namespaces to the kubectl get)`,
    ),
  };
}

/**
 * Whether the first list call will say why `e`'s call failed (so a note would repeat it): the server
 * not reached, or the credentials refused. A call still throttled after its last try also stops the
 * listing (ListError.unreachable), but the list calls after it may be answered: it gets its note.
 */
const saidByTheLists = (e: ListError): boolean => e.unreachable && (e.status === undefined || e.status === 401);

/**
 * The selection of a live cluster: `get` of the configuration, then the Namespaces. A call the server
 * answers with an error gives the fallback and a note; one it cannot be reached for (or refuses the
 * credentials of) gives the fallback silently: the first list call then says why, as before.
 */
export async function clusterSelection(cluster: Cluster, name: string): Promise<SelectionRead> {
  let config: unknown;
  try {
    config = await cluster.webhookConfiguration(name);
  } catch (e) {
    if (!(e instanceof ListError)) throw e;
    return { selection: undefined, note: saidByTheLists(e) ? undefined : printable(`note: ${e.message}: ${FALLBACK}`), ...(e.status === 403 ? { usual: true } : {}) };
  }
  if (config === undefined) {
    return { selection: undefined, note: `note: no MutatingWebhookConfiguration ${name} in the cluster (not installed yet, or under another name: --webhook-config NAME): ${FALLBACK}`, usual: true };
  }
  const namespaces = new Map<string, Labels>();
  try {
    for await (const page of cluster.namespaces()) {
      for (const ns of page) {
        const nsName = at(ns, ['metadata', 'name']);
        if (typeof nsName === 'string' && nsName !== '') namespaces.set(...namespaceEntry(ns, nsName));
      }
    }
  } catch (e) {
    if (!(e instanceof ListError)) throw e;
    const read = selectionOf(name, config, new Map(), 'in the cluster');
    if (read.selection === undefined || saidByTheLists(e)) return read;
    return {
      selection: read.selection,
      note: printable(`note: ${e.message}: namespace labels are not known, so the namespaceSelector of ${name} leaves out only what namespace names decide`),
    };
  }
  return selectionOf(name, config, namespaces, 'in the cluster');
}
