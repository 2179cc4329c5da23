/**
 * `image-rewriter audit`: which containers and image volumes of a cluster's Pods and workloads
 * still name an image the rules would rewrite (objects created before the webhook, while it failed open, or before a
 * rule existed), decided exactly as the webhook would (src/core/manifest.ts).
 *
 * Input: the live cluster through the kubeconfig (./cluster.ts: list calls only, page by page), or
 * with `-f FILE|-` the JSON (or YAML) of `kubectl get ... -o json`. Output: a table for people, or
 * with `-o json` one object per line `{namespace, kind, name, container, image, rewritten, rule}`
 * for scripts; then a summary (images per namespace and per rule: an image volume counts as one,
 * as a container does), on stderr with `-o json`.
 * An image left unchanged because it, or its rule's result, is not a valid reference is warned of
 * on stderr, as render and the webhook warn of it. Exit 1 when anything would change, 0 when nothing
 * would, 2 when something could not be read (what could be read is still reported). Empty input (or null) is an error: kubectl prints a List
 * even when nothing matches, so nothing means kubectl failed.
 *
 * Left out: what the webhook is never called for, counted in the summary: what the
 * MutatingWebhookConfiguration it is installed as does not select (./audit-selection.ts: its
 * rules, namespaceSelector and objectSelector, decided as the API server does; without it, the
 * namespaces webhook-config always excludes) and mirror Pods; finished Pods (phase Succeeded or
 * Failed: a completed Job's, an evicted one), which pull nothing any more and would keep a migrated
 * cluster failing the audit for as long as they are kept, counted in the summary unless
 * `--include-finished` lists them; and objects whose controller is in
 * the input too (a ReplicaSet of a listed Deployment, a Job of a listed CronJob): their
 * controller's template is what needs the fix. Pods are always listed, whoever owns them: they are
 * what pulls, and what a rollout restart replaces.
 */
import { type Command, EXIT, type Io, isDnsSubdomain, namespaceFlag, namespaceLimitedNote, openCliSources, parseFlags, UsageError } from './common.js';
import { calledFor, clusterSelection, DEFAULT_CONFIGURATION_NAME, fileSelection, isSelectionInput, type Selection, type SelectionRead } from './audit-selection.js';
import { fileObjects } from './audit-input.js';
import { readManifests } from './render.js';
import { EXCLUDED_NAMESPACES } from './webhook-config.js';
import { type InvalidRecord, MIRROR_POD_ANNOTATION } from '../core/admission.js';
import { auditOf, decide, type Finding, type LimitedRule, type ManifestObject, namespaceLimitedOf, objectLabel, SCOPES, type Scope } from '../core/manifest.js';
import { namespaceLimitedRules } from '../core/explain.js';
import type { Rewriter } from '../core/rules.js';
import { at, isRecord, jsonLine, oneLine, own, printable } from '../core/json.js';
import { foreignNote } from '../core/reference.js';
import { type FieldProblem, WORKLOAD_TYPES, workloadTypeOfKind, type WorkloadType } from '../core/workload.js';

/** The kinds the webhook rewrites, in their own groups (src/core/workload.ts). */
const WORKLOAD_KINDS: ReadonlySet<string> = new Set(WORKLOAD_TYPES.map((t) => t.kind));

export const OUTPUTS = ['table', 'json'] as const;
type Output = (typeof OUTPUTS)[number];

/** The kinds audit lists, Pods first, controllers before the kinds they control (a live cluster is read in this order). */
export const AUDIT_KINDS = ['Pod', 'Deployment', 'StatefulSet', 'DaemonSet', 'CronJob', 'Job', 'ReplicaSet', 'ReplicationController', 'PodTemplate'] as const;

/** Objects per list call: the default of `kubectl get --chunk-size`; each page is held whole in memory. */
export const PAGE_SIZE = { default: 500, min: 1, max: 10_000 } as const;

/** How the table and the summary show an object without a namespace (`""` in `-o json`). */
const NO_NAMESPACE = '(none)';

const isScope = (s: string): s is Scope => SCOPES.some((x) => x === s);
const isOutput = (s: string): s is Output => OUTPUTS.some((x) => x === s);

function pageSizeOf(text: string | undefined): number {
  if (text === undefined) return PAGE_SIZE.default;
  const n = /^\d+$/.test(text) ? Number(text) : Number.NaN;
  if (!(n >= PAGE_SIZE.min && n <= PAGE_SIZE.max)) throw new UsageError(`--page-size must be a whole number from ${PAGE_SIZE.min} to ${PAGE_SIZE.max}: ${oneLine(text)}`);
  return n;
}

/** Why the webhook is never called for an object (so audit leaves it out). */
type LeftOut = 'namespace' | 'mirror' | 'unselected';

/**
 * Why the webhook is never called for `o`, or undefined: in kube-system (said as such when the
 * configuration does not select it either), a mirror Pod, or not selected by the configuration.
 */
function leftOut(o: ManifestObject, type: WorkloadType, selection: Selection | undefined): LeftOut | undefined {
  // The kubelet's API copy of a static Pod: its spec cannot change, and the webhook skips it. Anyone
  // who may create a Pod may annotate it so, and the webhook rewrites that Pod (it sees who created
  // it: docs/design.md, "Rewrite semantics"); a kubelet's own carries an owner reference to its Node
  // (the API server's NodeRestriction refuses one without), which is what audit can read.
  const metadata = at(o.object, ['metadata']);
  const nodeOwned = (r: unknown): boolean => own(r, 'kind') === 'Node' && own(r, 'apiVersion') === 'v1';
  const owners = own(metadata, 'ownerReferences');
  if (o.group === '' && o.kind === 'Pod' && own(own(metadata, 'annotations'), MIRROR_POD_ANNOTATION) !== undefined && Array.isArray(owners) && owners.some(nodeOwned)) return 'mirror';
  const excluded = EXCLUDED_NAMESPACES.some((n) => n === o.namespace);
  if (selection === undefined) return excluded ? 'namespace' : undefined;
  if (calledFor(selection, o, type)) return undefined;
  return excluded ? 'namespace' : 'unselected';
}

/** Pod phases after which no container runs again (restartPolicy never restarts them): nothing more is pulled. */
const FINISHED_PHASES: readonly unknown[] = ['Succeeded', 'Failed'];

const isFinishedPod = (o: ManifestObject): boolean => o.group === '' && o.kind === 'Pod' && FINISHED_PHASES.includes(at(o.object, ['status', 'phase']));

const uidOf = (value: unknown): string | undefined => {
  const uid = own(value, 'uid');
  return typeof uid === 'string' && uid !== '' ? uid : undefined;
};

/** The workloads of the input, to leave out the objects one of them controls. */
class Controllers {
  private readonly uids = new Set<string>();
  /** `kind/namespace/name` -> uid ('' for an object without one). */
  private readonly names = new Map<string, string>();

  add(o: ManifestObject): void {
    if (o.kind === 'Pod' || o.name === undefined || workloadTypeOfKind(o.group, o.kind) === undefined) return;
    const uid = uidOf(o.object['metadata']);
    if (uid !== undefined) this.uids.add(uid);
    this.names.set(`${o.kind}\u0000${o.namespace ?? ''}\u0000${o.name}`, uid ?? '');
  }

  /** True when `o`'s controller (ownerReferences, `controller: true`) is in the input; never for a Pod. */
  controls(o: ManifestObject): boolean {
    if (o.kind === 'Pod') return false;
    const refs = at(o.object, ['metadata', 'ownerReferences']);
    if (!Array.isArray(refs)) return false;
    const list: readonly unknown[] = refs;
    const ref = list.find((r) => own(r, 'controller') === true);
    const kind = own(ref, 'kind');
    const name = own(ref, 'name');
    const uid = uidOf(ref);
    if (uid !== undefined && this.uids.has(uid)) return true;
    if (typeof kind !== 'string' || typeof name !== 'string') return false;
    const held = this.names.get(`${kind}\u0000${o.namespace ?? ''}\u0000${name}`);
    // By name only when a uid is missing: the same name with another uid is a re-created object.
    return held !== undefined && (held === '' || uid === undefined);
  }
}

/** Collects findings, prints JSON lines as they come, and the table and summary at the end. */
class Report {
  readonly findings: Finding[] = [];
  private count = 0;
  private readonly byNamespace = new Map<string, number>();
  private readonly byRule = new Map<string, number>();
  private readonly objects = new Set<string>();
  private readonly left: Record<LeftOut, number> = { namespace: 0, mirror: 0, unselected: 0 };
  /** The configuration whose selection left objects out, for the summary. */
  private configuration = '';
  /** Finished Pods that name an image the rules would rewrite, and how many such images. */
  private readonly finished = { pods: 0, images: 0 };
  /**
   * Objects of `-f` input of kinds the webhook does not rewrite (a Rollout, a ConfigMap), by kind;
   * said only when the input has no Pod or workload (`kubectl get all` lists Services beside them).
   */
  private readonly otherKinds = new Map<string, number>();
  private workloads = 0;
  /** Fields named on stderr as unreadable (an image that is not a string): the audit is then incomplete. */
  unreadable = 0;

  constructor(
    private readonly io: Io,
    private readonly output: Output,
    /** What the objects were read from (`stdin`, a file name) for error lines; undefined: the cluster. */
    private readonly source?: string,
  ) {}

  /** A field of `o` whose image cannot be known (render refuses such a manifest): named, and the audit fails. */
  unreadableField(o: ManifestObject, problem: FieldProblem): void {
    this.unreadable++;
    this.line('error', `${objectLabel(o)}: ${o.pointer}${problem.pointer} ${problem.problem.split('; ')[0] ?? problem.problem}`);
  }

  /**
   * An image of `o` left unchanged because it, or its rule's result, is not a valid reference: a
   * warning on stderr, worded as render's (`left unchanged: ...`), as the webhook warns at each
   * admission. Not a finding: nothing would change, so the exit status does not count it.
   */
  invalidImage(o: ManifestObject, record: InvalidRecord): void {
    this.line('warning', `${objectLabel(o)}: ${o.pointer}${record.pointer}: left unchanged: ${record.error}`);
  }

  /** One line on stderr about an object: `error: stdin: Pod a/p: ...`, printable whatever the manifest holds. */
  private line(level: 'error' | 'warning', what: string): void {
    this.io.stderr(`${printable(`${level}: ${this.source === undefined ? '' : `${this.source}: `}${what}`)}\n`);
  }

  add(f: Finding): void {
    this.count++;
    this.byNamespace.set(f.namespace, (this.byNamespace.get(f.namespace) ?? 0) + 1);
    this.byRule.set(f.rule, (this.byRule.get(f.rule) ?? 0) + 1);
    this.objects.add(`${f.kind}\u0000${f.namespace}\u0000${f.name}`);
    if (this.output === 'json') this.io.stdout(`${jsonLine(f)}\n`);
    else this.findings.push(f); // a table needs every row for its column widths
  }

  leaveOut(why: LeftOut, configuration = ''): void {
    this.left[why]++;
    if (why === 'unselected') this.configuration = configuration;
  }

  /** An object of a kind the webhook rewrites (a Pod or a workload) was read. */
  readWorkload(): void {
    this.workloads++;
  }

  leaveOutKind(kind: string): void {
    this.otherKinds.set(kind, (this.otherKinds.get(kind) ?? 0) + 1);
  }

  leaveOutFinished(images: number): void {
    this.finished.pods++;
    this.finished.images += images;
  }

  get total(): number {
    return this.count;
  }

  finish(): void {
    if (this.output === 'table' && this.findings.length > 0) this.io.stdout(table(this.findings));
    const say = this.output === 'json' ? this.io.stderr : this.io.stdout;
    const left = [
      ...(this.left.namespace > 0 ? [`${this.left.namespace} object(s) in ${EXCLUDED_NAMESPACES.join(', ')} (the webhook is not called there)`] : []),
      ...(this.left.mirror > 0 ? [`${this.left.mirror} mirror Pod(s) (the kubelet's, never rewritten)`] : []),
      ...(this.left.unselected > 0 ? [`${this.left.unselected} object(s) the webhook configuration ${printable(this.configuration)} does not select`] : []),
      ...(this.finished.pods > 0
        ? [`${this.finished.pods} finished Pod(s) with ${this.finished.images} image(s) the rules would rewrite (phase Succeeded or Failed: they pull nothing; --include-finished lists them)`]
        : []),
      ...(this.otherKinds.size > 0 && this.workloads === 0 ? [otherKindsNote(this.otherKinds)] : []),
    ];
    const note = left.length > 0 ? `left out: ${left.join(', ')}\n` : '';
    if (this.count === 0) {
      say(`audit: no image would be rewritten\n${note}`);
      return;
    }
    // Code-unit order, not localeCompare's: that follows LANG (Lithuanian puts "y" before "j"), and
    // the same cluster must give the same summary on every machine that audits it.
    const counts = (m: Map<string, number>): string =>
      [...m].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([k, n]) => `  ${k === '' ? NO_NAMESPACE : oneLine(k)}: ${n}`).join('\n');
    say(
      `${this.output === 'table' ? '\n' : ''}audit: ${this.count} image(s) in ${this.objects.size} object(s) would be rewritten\n` +
        `per namespace:\n${counts(this.byNamespace)}\nper rule:\n${counts(this.byRule)}\n${note}`,
    );
  }
}

/**
 * `3 object(s) of kinds the webhook does not rewrite (Rollout, ConfigMap)`: said when nothing else
 * was read, or a `-f` of `kubectl get rollouts -o json` would pass as "no image would be rewritten"
 * with no word that nothing in it was audited (their controllers' Pods are audited as Pods).
 */
function otherKindsNote(kinds: ReadonlyMap<string, number>): string {
  const MAX_KINDS = 5;
  let total = 0;
  for (const n of kinds.values()) total += n;
  // Those named with their apiVersion first: a reader looks for them, not for the ConfigMaps beside them.
  const named = [...kinds.keys()].sort((a, b) => Number(b.includes(' of ')) - Number(a.includes(' of ')));
  const names = named.slice(0, MAX_KINDS).map((k) => printable(k === '' ? '(no kind)' : k));
  const more = kinds.size > MAX_KINDS ? `, ${kinds.size - MAX_KINDS} more` : '';
  return `${total} object(s) of kinds the webhook does not rewrite (${names.join(', ')}${more})`;
}

const COLUMNS = ['namespace', 'kind', 'name', 'container', 'image', 'rewritten', 'rule'] as const;

function table(rows: readonly Finding[]): string {
  // Names come from the input (a file can hold anything): one printable cell each.
  const cells = rows.map((r) => COLUMNS.map((c) => (c === 'namespace' && r[c] === '' ? NO_NAMESPACE : oneLine(r[c]))));
  // A loop, not Math.max(...column): a spread passes every row as an argument, and past about
  // 120,000 rows (a large cluster) that overflows the stack.
  const widths: number[] = COLUMNS.map((c) => c.length);
  for (const row of cells) for (let i = 0; i < row.length; i++) widths[i] = Math.max(widths[i] ?? 0, row[i]?.length ?? 0);
  const line = (row: readonly string[]): string => `${row.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd()}\n`;
  return line(COLUMNS.map((c) => c.toUpperCase())) + cells.map(line).join('');
}

/** What is read and how it is decided: the same for a live cluster and for `-f`. */
interface Audit {
  readonly rewriter: Rewriter;
  readonly scope: Scope;
  readonly includeFinished: boolean;
  /** The webhook configuration and namespaces to decide what the webhook is called for; undefined: kube-system only. */
  readonly selection?: Selection | undefined;
  /** `-f` without `-n`: the rules limited to namespaces that would take an image of an object without one (render's note). */
  readonly limited?: { readonly rule: LimitedRule; readonly names: Set<string> } | undefined;
}

function report(objects: readonly ManifestObject[], audit: Audit, out: Report, controllers: Controllers): void {
  const { rewriter, scope } = audit;
  // All of them first: a controller may come after what it controls.
  for (const o of objects) controllers.add(o);
  for (const o of objects) {
    const type = workloadTypeOfKind(o.group, o.kind);
    if (type === undefined) {
      // A workload's kind in another group (`extensions/v1beta1` DaemonSets of old manifests, a
      // Volcano Job) is named with its apiVersion: "kinds the webhook does not rewrite (DaemonSet)" misleads.
      out.leaveOutKind(WORKLOAD_KINDS.has(o.kind) ? `${o.kind} of ${o.group === '' ? o.version : `${o.group}/${o.version}`}` : o.kind);
      continue;
    }
    out.readWorkload();
    if (scope === 'pods' && type.kind !== 'Pod') continue;
    const why = leftOut(o, type, audit.selection);
    if (why !== undefined) out.leaveOut(why, audit.selection?.name);
    else if (!audit.includeFinished && isFinishedPod(o)) {
      // Counted only when the Pod names something the rules would rewrite: the summary says what was not counted.
      const images = auditOf(o, rewriter, scope).findings.length;
      if (images > 0) out.leaveOutFinished(images);
    } else if (!controllers.controls(o)) {
      const { findings, unreadable, invalid } = auditOf(o, rewriter, scope);
      for (const f of findings) out.add(f);
      for (const i of invalid) out.invalidImage(o, i);
      const { limited } = audit;
      if (limited !== undefined && o.namespace === undefined) {
        for (const name of namespaceLimitedOf(o, decide(o, rewriter, { annotate: false, scope }), limited.rule)) limited.names.add(name);
      }
      // Never passed over: an image that is not a string (`image: yes`, `!!binary`, which kubectl
      // applies as a string) is a container whose image this audit did not read.
      for (const p of unreadable) out.unreadableField(o, p);
    }
  }
}

/** List the live cluster kind by kind; returns false when some list call failed (after printing it). */
async function auditCluster(
  values: { kubeconfig?: string | undefined; namespace?: string | undefined },
  pageSize: number,
  io: Io,
  without: Audit,
  out: Report,
  configuration: string,
  /** Whether `--webhook-config` named it (see `note`). */
  named: boolean,
): Promise<boolean> {
  const { openCluster, ListError } = await import('./cluster.js');
  let cluster;
  try {
    const expired = new Set<string>();
    const onExpired = (what: string): void => {
      if (expired.has(what)) return;
      expired.add(what);
      io.stderr(`note: listing ${what} outlived the API server's snapshot (HTTP 410 on its continue token); it went on from a newer one, so objects created, changed or deleted meanwhile may be missing or listed twice\n`);
    };
    cluster = await openCluster({ kubeconfig: values.kubeconfig, env: io.env, namespace: values.namespace, pageSize, onExpired });
  } catch (e) {
    if (!(e instanceof ListError)) throw e;
    io.stderr(`error: ${e.message}\n`);
    return false;
  }
  const audit: Audit = { ...without, selection: note(io, await clusterSelection(cluster, configuration), named) };
  // Kept across pages and kinds (AUDIT_KINDS lists controllers first): the workloads only, not the Pods.
  const controllers = new Controllers();
  let ok = true;
  for (const kind of audit.scope === 'pods' ? ['Pod'] : AUDIT_KINDS) {
    try {
      for await (const page of cluster.pages(kind)) {
        const [group, version] = page.apiVersion.includes('/') ? page.apiVersion.split('/') : ['', page.apiVersion];
        report(
          page.items.filter(isRecord).map((object) => ({
            pointer: '',
            object,
            group: group ?? '',
            version: version ?? '',
            kind,
            namespace: stringAt(object, 'namespace'),
            name: stringAt(object, 'name'),
          })),
          audit,
          out,
          controllers,
        );
      }
    } catch (e) {
      if (!(e instanceof ListError)) throw e;
      io.stderr(`error: ${e.message}\n`);
      ok = false;
      // The next kinds would fail the same way: one line says it.
      if (e.unreachable) break;
    }
  }
  return ok;
}

/** The selection, after printing its note (what audit assumed without one, and why). */
/**
 * The selection, its note written to stderr. When the configuration is simply not there or may not
 * be read (SelectionRead.usual: audit run before the webhook is installed, a RoleBinding-only user)
 * the note is written only if the user named it (`--webhook-config`): otherwise audit's output is
 * what it was before it read configurations, which scripts compare.
 */
function note(io: Io, read: SelectionRead, named: boolean): Selection | undefined {
  if (read.note !== undefined && (named || read.usual !== true)) io.stderr(`${read.note}\n`);
  return read.selection;
}

function stringAt(object: unknown, field: 'namespace' | 'name'): string | undefined {
  const v = at(object, ['metadata', field]);
  return typeof v === 'string' && v !== '' ? v : undefined;
}

export const command: Command = async (args, io) => {
  const { values, positionals } = parseFlags({
    args,
    options: {
      config: { type: 'string', short: 'c' },
      kubeconfig: { type: 'string' },
      filename: { type: 'string', short: 'f' },
      output: { type: 'string', short: 'o' },
      namespace: { type: 'string', short: 'n' },
      scope: { type: 'string' },
      'page-size': { type: 'string' },
      'include-finished': { type: 'boolean' },
      'webhook-config': { type: 'string' },
    },
    allowPositionals: true,
    strict: true,
  });
  if (positionals.length > 0) throw new UsageError(`audit takes no arguments (got "${oneLine(positionals.join(' '))}")`);
  if (values.kubeconfig !== undefined && values.filename !== undefined) throw new UsageError('--kubeconfig and -f are exclusive');
  const output = values.output ?? 'table';
  if (!isOutput(output)) throw new UsageError(`-o must be one of ${OUTPUTS.join(', ')}: ${oneLine(output)}`);
  const scope = values.scope ?? 'all';
  if (!isScope(scope)) throw new UsageError(`--scope must be one of ${SCOPES.join(', ')}: ${oneLine(scope)}`);
  const pageSize = pageSizeOf(values['page-size']);
  // A namespace name, checked before any call (namespaceFlag): the client lower-cases the URL path.
  const namespace = namespaceFlag(values.namespace);
  const configuration = values['webhook-config'] ?? DEFAULT_CONFIGURATION_NAME;
  if (!isDnsSubdomain(configuration)) throw new UsageError(`--webhook-config must name a MutatingWebhookConfiguration (a Kubernetes object name): ${oneLine(configuration)}${foreignNote(configuration)}`);
  const sources = await openCliSources(io, { configFile: values.config, tokenRequired: false });
  // A token that cannot be read is exit 1 elsewhere; here 1 says that something would change.
  if (typeof sources === 'number') return sources === EXIT.failure ? EXIT.invalidConfig : sources;
  const audit: Audit = { rewriter: sources.state.rewriter, scope, includeFinished: values['include-finished'] === true };
  const out = new Report(io, output, values.filename === undefined ? undefined : values.filename === '-' ? 'stdin' : values.filename);
  let ok: boolean;
  if (values.filename !== undefined) {
    const text = await readManifests(values.filename, io);
    const read = text === undefined ? { objects: [], complete: false } : fileObjects(text, io, values.filename === '-' ? 'stdin' : values.filename);
    ok = read.complete;
    // A controller is in the namespace of what it controls: -n keeps both or neither. Namespaces
    // and webhook configurations (cluster-scoped) say what the webhook is called for. An object
    // without a namespace (a manifest, never kubectl get's) is in NS, as `kubectl apply -n NS` creates it.
    const wanted = read.objects
      .filter((o) => !isSelectionInput(o))
      .map((o) => (o.namespace === undefined && namespace !== undefined ? { ...o, namespace } : o))
      .filter((o) => namespace === undefined || o.namespace === namespace);
    const selection = note(io, fileSelection(read.objects, wanted, configuration), values['webhook-config'] !== undefined);
    const limitedRule = namespace === undefined ? namespaceLimitedRules(audit.rewriter) : undefined;
    const limited = limitedRule === undefined ? undefined : { rule: limitedRule, names: new Set<string>() };
    report(wanted, { ...audit, selection, limited }, out, new Controllers());
    if (limited !== undefined && limited.names.size > 0) io.stderr(`${printable(namespaceLimitedNote([...limited.names], 'audit'))}\n`);
  } else {
    ok = await auditCluster({ kubeconfig: values.kubeconfig, namespace }, pageSize, io, audit, out, configuration, values['webhook-config'] !== undefined);
  }
  ok &&= out.unreadable === 0;
  // After a failed read, "nothing would be rewritten" would be a claim about what was not read.
  if (ok || out.total > 0) out.finish();
  if (!ok) return EXIT.invalidConfig;
  return out.total > 0 ? EXIT.failure : EXIT.ok;
};
