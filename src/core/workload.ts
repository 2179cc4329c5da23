/**
 * Where the images are: which objects carry a pod spec, where it is, and every image field in it
 * as an RFC 6901 JSON pointer (`/spec/template/spec/initContainers/1/image`): the containers' and
 * the image volumes' (`/spec/volumes/0/image/reference`, KEP-4639), which the kubelet pulls the
 * same way, with the Pod's imagePullSecrets.
 *
 * The object is untrusted JSON: only own properties are read (a `__proto__` key is data, never the
 * prototype), nothing is assumed about types, and nothing here throws. A field that is not what
 * the API server would send (a list that is not an array, an image that is not a string) is
 * skipped and returned as a problem.
 *
 * Pure: no I/O.
 */
import { at, isRecord, own } from './json.js';
import { pointer } from './patch.js';

export const CONTAINER_LISTS = ['containers', 'initContainers', 'ephemeralContainers'] as const;
export type ContainerList = (typeof CONTAINER_LISTS)[number];
/** The lists whose items name an image: the container lists, then `volumes` (an image volume's `image.reference`). */
export const IMAGE_LISTS = [...CONTAINER_LISTS, 'volumes'] as const;
export type ImageList = (typeof IMAGE_LISTS)[number];

/** The image Istio's gateway manifests give the container its injector fills in (istio-proxy). */
export const AUTO_IMAGE = 'auto';

/** The kinds whose objects carry a pod spec. */
export type WorkloadKind =
  | 'Pod'
  | 'Deployment'
  | 'ReplicaSet'
  | 'StatefulSet'
  | 'DaemonSet'
  | 'Job'
  | 'CronJob'
  | 'ReplicationController'
  | 'PodTemplate';

/** Where a kind keeps its pod spec, and the metadata of its pod template (not for Pods). */
export interface WorkloadType {
  readonly kind: WorkloadKind;
  /** The API group ('' for the core group). */
  readonly group: string;
  /** The plural resource name (`deployments`). */
  readonly resource: string;
  /** Path of the pod spec in the object: `['spec']` for a Pod, `['spec', 'template', 'spec']` for a Deployment. */
  readonly podSpecPath: readonly string[];
  /** Path of the pod template's metadata; undefined for a Pod. */
  readonly templateMetadataPath: readonly string[] | undefined;
  /** The subresources whose object is this kind and rewritten too (`ephemeralcontainers` of pods). */
  readonly subresources: readonly string[];
}

const TEMPLATE = ['spec', 'template'] as const;

function type(kind: WorkloadKind, group: string, resource: string, template: readonly string[] | undefined, subresources: readonly string[] = []): WorkloadType {
  return Object.freeze({
    kind,
    group,
    resource,
    podSpecPath: Object.freeze(template === undefined ? ['spec'] : [...template, 'spec']),
    templateMetadataPath: template === undefined ? undefined : Object.freeze([...template, 'metadata']),
    subresources: Object.freeze([...subresources]),
  });
}

/**
 * Every kind whose pod spec is rewritten (any version: the pod spec is in the same place in all).
 * The one list: the webhook configuration (src/cli/webhook-config.ts) registers exactly these.
 */
export const WORKLOAD_TYPES: readonly WorkloadType[] = Object.freeze([
  type('Pod', '', 'pods', undefined, ['ephemeralcontainers']),
  type('Deployment', 'apps', 'deployments', TEMPLATE),
  type('ReplicaSet', 'apps', 'replicasets', TEMPLATE),
  type('StatefulSet', 'apps', 'statefulsets', TEMPLATE),
  type('DaemonSet', 'apps', 'daemonsets', TEMPLATE),
  type('Job', 'batch', 'jobs', TEMPLATE),
  type('CronJob', 'batch', 'cronjobs', ['spec', 'jobTemplate', 'spec', 'template']),
  type('ReplicationController', '', 'replicationcontrollers', TEMPLATE),
  type('PodTemplate', '', 'podtemplates', ['template']),
]);

const BY_GROUP_KIND: ReadonlyMap<string, WorkloadType> = new Map(WORKLOAD_TYPES.map((t) => [`${t.group}/${t.kind}`, t]));

export interface GroupVersionKind {
  readonly group: string;
  readonly version: string;
  readonly kind: string;
}

export interface GroupVersionResource {
  readonly group: string;
  readonly version: string;
  readonly resource: string;
}

/**
 * The type of the object in an admission request, from `request.kind` and `request.resource` (the
 * object itself may have no `kind`), or undefined when it carries no pod spec we rewrite.
 *
 * Both must agree: kind `apps/Deployment` on resource `apps/deployments`. Subresources are not
 * rewritten (`deployments/scale` is a Scale, `pods/status` cannot change images), except
 * `pods/ephemeralcontainers`, which `kubectl debug` uses and whose object is a whole Pod.
 */
export function workloadTypeOf(kind: GroupVersionKind, resource: GroupVersionResource, subResource = ''): WorkloadType | undefined {
  const t = BY_GROUP_KIND.get(`${kind.group}/${kind.kind}`);
  if (t?.group !== resource.group || t.resource !== resource.resource) return undefined;
  if (subResource === '') return t;
  return t.subresources.includes(subResource) ? t : undefined;
}

/** The type of an object from its own `apiVersion` group and `kind` (a manifest has no request.resource). */
export function workloadTypeOfKind(group: string, kind: string): WorkloadType | undefined {
  return BY_GROUP_KIND.get(`${group}/${kind}`);
}

/** An image field of a pod spec: a container's `image`, or an image volume's `image.reference`. */
export interface ImageField {
  /** RFC 6901 pointer of the field, e.g. `/spec/containers/0/image`, `/spec/volumes/2/image/reference`. */
  readonly pointer: string;
  /** The list the container (`volumes` for an image volume) is in. */
  readonly containerList: ImageList;
  readonly index: number;
  /** The container's (or volume's) `name`, or undefined when it has none (or not a string). */
  readonly containerName: string | undefined;
  readonly image: string;
  /**
   * Set when the kubelet never pulls this image (`imagePullPolicy: Never`, an image volume's
   * `pullPolicy: Never`): it runs only what the node holds under the name, so a rewrite's warning
   * says the node must hold the new one (docs/design.md, "Rewrite semantics" 2).
   */
  readonly pullNever?: true;
}

/**
 * A field skipped or overwritten because it is not what the review expects. `problem` says what is
 * wrong with the field, then, after `; ` (when there is one), what the webhook did about it.
 */
export interface FieldProblem {
  readonly pointer: string;
  readonly problem: string;
  /**
   * Set when the API server accepts the field as it is (the original-images annotation holding a
   * string that is not the webhook's JSON map) and the patch overwrites it, or leaves it alone (the
   * original images would not fit in the annotations): nothing is wrong with the object. Unset: the API server would not accept the field (it cannot send it, and rejects
   * an object that has it), so `render` refuses such a manifest.
   */
  readonly valid?: true;
  /** Set on the entry that stands for the problems past MAX_FIELD_PROBLEMS: how many fields it counts (unset: 1). */
  readonly fields?: number;
}

export interface PodSpecImages {
  /** Pointer of the pod spec (`/spec/template/spec`), whether or not it exists. */
  readonly podSpecPointer: string;
  /** The pod spec object, or undefined when it is absent or not an object. */
  readonly podSpec: Readonly<Record<string, unknown>> | undefined;
  readonly images: readonly ImageField[];
  readonly problems: readonly FieldProblem[];
}

/**
 * At most this many problems are listed; the last entry then says how many more there were (a
 * body of 100,000 bad entries is one review, not 100,000 log lines).
 */
export const MAX_FIELD_PROBLEMS = 20;

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  // What the explicit tags of a YAML manifest make (render and audit -f read YAML; JSON has none).
  // kubectl reads `!!binary` as the text it encodes: say so, since the fix is to write that text.
  if (value instanceof Uint8Array) return 'binary data (YAML !!binary: write the image as text)';
  if (value instanceof Date) return 'a timestamp (YAML !!timestamp)';
  if (value instanceof Set) return 'a set (YAML !!set)';
  if (value instanceof Map) return 'a map (YAML !!omap)';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

/**
 * Every image of the pod spec of `object`, read as a `type`, in the order containers,
 * initContainers, ephemeralContainers, image volumes (or only the `lists` given). Absent or null
 * lists and a missing pod spec yield nothing (as does a volume of another type); wrong types are
 * reported as problems.
 */
export function findImages(object: unknown, type: WorkloadType, lists: readonly ImageList[] = IMAGE_LISTS): PodSpecImages {
  const podSpecPointer = pointer(type.podSpecPath);
  const images: ImageField[] = [];
  const listed: FieldProblem[] = [];
  let more = 0;
  const problems = {
    push(problem: FieldProblem): void {
      if (listed.length < MAX_FIELD_PROBLEMS) listed.push(problem);
      else more++;
    },
  };
  const done = (podSpec: Readonly<Record<string, unknown>> | undefined): PodSpecImages => {
    if (more > 0) listed.push({ pointer: podSpecPointer, problem: `and ${more} more fields skipped`, fields: more });
    return { podSpecPointer, podSpec, images, problems: listed };
  };
  const spec = at(object, type.podSpecPath);
  if (spec === undefined || spec === null) return done(undefined);
  if (!isRecord(spec)) {
    problems.push({ pointer: podSpecPointer, problem: `is ${describe(spec)}, not an object` });
    return done(undefined);
  }
  for (const list of lists) {
    const items = own(spec, list);
    // Nothing is built for an absent list (most pod specs have no volumes, nor ephemeral containers).
    if (items === undefined || items === null) continue;
    const listPointer = `${podSpecPointer}/${list}`;
    if (!Array.isArray(items)) {
      problems.push({ pointer: listPointer, problem: `is ${describe(items)}, not a list` });
      continue;
    }
    const volumes = list === 'volumes';
    const entries: readonly unknown[] = items;
    entries.forEach((item, index) => {
      let fieldPointer = `${listPointer}/${index}`;
      if (!isRecord(item)) {
        problems.push({ pointer: fieldPointer, problem: `is ${describe(item)}, not an object` });
        return;
      }
      let holder = item;
      if (volumes) {
        const source = own(item, 'image');
        if (source === undefined || source === null) return; // a volume of another type
        fieldPointer += '/image';
        if (!isRecord(source)) {
          problems.push({ pointer: fieldPointer, problem: `is ${describe(source)}, not an object` });
          return;
        }
        holder = source;
      }
      const key = volumes ? 'reference' : 'image';
      fieldPointer += `/${key}`;
      const image = own(holder, key);
      // No image: nothing to rewrite. A pod template (and an image volume of one) may leave it unset
      // or empty for a later tool to set (Kubernetes requires it of Pods only; OpenShift's image
      // triggers write ""): no warning on every apply. A Pod without one is refused by the API server.
      if (image === undefined || image === null || image === '') return;
      // Istio's placeholder: its injector replaces a container's `image: auto` with its proxy image,
      // but keeps any other image there, so a rewrite (`docker.io/library/auto` to a mirror) would
      // leave the Pod an image that exists nowhere (docs/design.md, "Rewrite semantics" 2).
      if (image === AUTO_IMAGE && !volumes && list !== 'ephemeralContainers') return;
      if (typeof image !== 'string') {
        problems.push({ pointer: fieldPointer, problem: `is ${describe(image)}, not a string` });
        return;
      }
      const name = own(item, 'name');
      const field: ImageField = { pointer: fieldPointer, containerList: list, index, containerName: typeof name === 'string' ? name : undefined, image };
      images.push(own(holder, volumes ? 'pullPolicy' : 'imagePullPolicy') === 'Never' ? { ...field, pullNever: true } : field);
    });
  }
  return done(spec);
}
