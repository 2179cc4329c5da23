/**
 * `image-rewriter audit`: which containers of a cluster's Pods and workloads still name an image
 * the rules would rewrite (objects created before the webhook, while it failed open, or before a
 * rule existed), decided exactly as the webhook would (src/core/manifest.ts).
 *
 * Input: the live cluster through the kubeconfig (./cluster.ts: list calls only, page by page), or
 * with `-f FILE|-` the JSON (or YAML) of `kubectl get ... -o json`. Output: a table for people, or
 * with `-o json` one object per line `{namespace, kind, name, container, image, rewritten, rule}`
 * for scripts; then a summary (counts per namespace and per rule), on stderr with `-o json`.
 * Exit 1 when anything would change, 0 when nothing would, 2 when something could not be read
 * (what could be read is still reported).
 *
 * Objects controlled by another object audit lists (a ReplicaSet of a Deployment, a Job of a
 * CronJob) are left out: their owner's template is what needs the fix. Pods are always listed,
 * whoever owns them: they are what pulls, and what a rollout restart replaces.
 */
import { parseArgs } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { type Command, EXIT, type Io, openCliSources, UsageError } from './common.js';
import { readManifests } from './render.js';
import { type Finding, findingsOf, type ManifestObject, objectsOf, SCOPES, type Scope } from '../core/manifest.js';
import { MAX_ALIAS_COUNT } from '../manifests/render.js';
import type { Rewriter } from '../core/rules.js';
import { at, isRecord, own } from '../core/json.js';

export const OUTPUTS = ['table', 'json'] as const;
type Output = (typeof OUTPUTS)[number];

/** The kinds audit lists, Pods first. */
export const AUDIT_KINDS = ['Pod', 'Deployment', 'StatefulSet', 'DaemonSet', 'CronJob', 'Job', 'ReplicaSet', 'ReplicationController', 'PodTemplate'] as const;

const isScope = (s: string): s is Scope => SCOPES.some((x) => x === s);
const isOutput = (s: string): s is Output => OUTPUTS.some((x) => x === s);

/** True when a controller (an object audit lists too) manages this one. */
function controlled(o: ManifestObject): boolean {
  if (o.kind === 'Pod') return false;
  const refs = at(o.object, ['metadata', 'ownerReferences']);
  if (!Array.isArray(refs)) return false;
  const list: readonly unknown[] = refs;
  return list.some((r) => own(r, 'controller') === true && AUDIT_KINDS.some((k) => k === own(r, 'kind')));
}

/** Collects findings, prints JSON lines as they come, and the table and summary at the end. */
class Report {
  readonly findings: Finding[] = [];
  private count = 0;
  private readonly byNamespace = new Map<string, number>();
  private readonly byRule = new Map<string, number>();
  private readonly objects = new Set<string>();

  constructor(
    private readonly io: Io,
    private readonly output: Output,
  ) {}

  add(f: Finding): void {
    this.count++;
    this.byNamespace.set(f.namespace, (this.byNamespace.get(f.namespace) ?? 0) + 1);
    this.byRule.set(f.rule, (this.byRule.get(f.rule) ?? 0) + 1);
    this.objects.add(`${f.kind}\u0000${f.namespace}\u0000${f.name}`);
    if (this.output === 'json') this.io.stdout(`${JSON.stringify(f)}\n`);
    else this.findings.push(f); // a table needs every row for its column widths
  }

  get total(): number {
    return this.count;
  }

  finish(): void {
    if (this.output === 'table' && this.findings.length > 0) this.io.stdout(table(this.findings));
    const say = this.output === 'json' ? this.io.stderr : this.io.stdout;
    if (this.count === 0) {
      say('audit: no container would be rewritten\n');
      return;
    }
    const counts = (m: Map<string, number>): string =>
      [...m].sort(([a], [b]) => a.localeCompare(b)).map(([k, n]) => `  ${k === '' ? '(cluster)' : k}: ${n}`).join('\n');
    say(
      `${this.output === 'table' ? '\n' : ''}audit: ${this.count} container(s) in ${this.objects.size} object(s) would be rewritten\n` +
        `per namespace:\n${counts(this.byNamespace)}\nper rule:\n${counts(this.byRule)}\n`,
    );
  }
}

const COLUMNS = ['namespace', 'kind', 'name', 'container', 'image', 'rewritten', 'rule'] as const;

function table(rows: readonly Finding[]): string {
  const widths = COLUMNS.map((c) => Math.max(c.length, ...rows.map((r) => r[c].length)));
  const line = (cells: readonly string[]): string => `${cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd()}\n`;
  return line(COLUMNS.map((c) => c.toUpperCase())) + rows.map((r) => line(COLUMNS.map((c) => r[c]))).join('');
}

/** The objects of `kubectl get -o json` (or YAML) text; undefined after printing why they cannot be read. */
function fileObjects(text: string, io: Io, name: string): ManifestObject[] | undefined {
  if (text.includes('\u0000')) {
    io.stderr(`error: ${name}: binary data, not the JSON of kubectl get -o json\n`);
    return undefined;
  }
  let documents: unknown[];
  try {
    documents = [JSON.parse(text) as unknown];
  } catch {
    // Not JSON: YAML (`kubectl get -o yaml`), with the same limits as render.
    const docs = parseAllDocuments(text, { merge: true });
    const error = docs.flatMap((d) => d.errors)[0];
    if (error !== undefined) {
      io.stderr(`error: ${name}: neither JSON nor YAML: ${error.message.split('\n')[0] ?? ''}\n`);
      return undefined;
    }
    try {
      documents = docs.map((d) => d.toJS({ maxAliasCount: MAX_ALIAS_COUNT }) as unknown);
    } catch (e) {
      io.stderr(`error: ${name}: ${(e as Error).message}\n`);
      return undefined;
    }
  }
  const objects: ManifestObject[] = [];
  for (const [i, d] of documents.entries()) {
    const r = objectsOf(d);
    if (!r.ok) {
      io.stderr(`error: ${name}: document ${i + 1}: ${r.problem.pointer === '' ? 'the document' : r.problem.pointer} ${r.problem.message}\n`);
      return undefined;
    }
    objects.push(...r.objects);
  }
  return objects;
}

function report(objects: Iterable<ManifestObject>, rewriter: Rewriter, scope: Scope, out: Report): void {
  for (const o of objects) {
    if (!controlled(o)) for (const f of findingsOf(o, rewriter, scope)) out.add(f);
  }
}

/** List the live cluster kind by kind; returns false when some list call failed (after printing it). */
async function auditCluster(
  values: { kubeconfig?: string | undefined; namespace?: string | undefined; 'page-size'?: string | undefined },
  io: Io,
  rewriter: Rewriter,
  scope: Scope,
  out: Report,
): Promise<boolean> {
  const pageSize = Number(values['page-size'] ?? '500');
  if (!Number.isInteger(pageSize) || pageSize < 1) throw new UsageError('--page-size must be a positive integer');
  const { openCluster, ListError } = await import('./cluster.js');
  let cluster;
  try {
    cluster = await openCluster({ kubeconfig: values.kubeconfig, env: io.env, namespace: values.namespace, pageSize });
  } catch (e) {
    if (!(e instanceof ListError)) throw e;
    io.stderr(`error: ${e.message}\n`);
    return false;
  }
  let ok = true;
  for (const kind of scope === 'pods' ? ['Pod'] : AUDIT_KINDS) {
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
          rewriter,
          scope,
          out,
        );
      }
    } catch (e) {
      if (!(e instanceof ListError)) throw e;
      io.stderr(`error: ${e.message}\n`);
      ok = false;
    }
  }
  return ok;
}

function stringAt(object: unknown, field: 'namespace' | 'name'): string | undefined {
  const v = at(object, ['metadata', field]);
  return typeof v === 'string' && v !== '' ? v : undefined;
}

export const command: Command = async (args, io) => {
  const { values, positionals } = parseArgs({
    args,
    options: {
      config: { type: 'string', short: 'c' },
      kubeconfig: { type: 'string' },
      filename: { type: 'string', short: 'f' },
      output: { type: 'string', short: 'o' },
      namespace: { type: 'string', short: 'n' },
      scope: { type: 'string' },
      'page-size': { type: 'string' },
    },
    allowPositionals: true,
    strict: true,
  });
  if (positionals.length > 0) throw new UsageError(`audit takes no arguments (got "${positionals.join(' ')}")`);
  if (values.kubeconfig !== undefined && values.filename !== undefined) throw new UsageError('--kubeconfig and -f are exclusive');
  const output = values.output ?? 'table';
  if (!isOutput(output)) throw new UsageError(`-o must be one of ${OUTPUTS.join(', ')}`);
  const scope = values.scope ?? 'all';
  if (!isScope(scope)) throw new UsageError(`--scope must be one of ${SCOPES.join(', ')}`);
  const sources = await openCliSources(io, { configFile: values.config, tokenRequired: false });
  if (typeof sources === 'number') return sources;
  const { rewriter } = sources.state;
  const out = new Report(io, output);
  let ok: boolean;
  if (values.filename !== undefined) {
    const text = await readManifests(values.filename, io);
    const objects = text === undefined ? undefined : fileObjects(text, io, values.filename === '-' ? 'stdin' : values.filename);
    ok = objects !== undefined;
    if (objects !== undefined) {
      const wanted = values.namespace === undefined ? objects : objects.filter((o) => o.namespace === values.namespace);
      report(wanted, rewriter, scope, out);
    }
  } else {
    ok = await auditCluster(values, io, rewriter, scope, out);
  }
  // After a failed read, "nothing would be rewritten" would be a claim about what was not read.
  if (ok || out.total > 0) out.finish();
  if (!ok) return EXIT.invalidConfig;
  return out.total > 0 ? EXIT.failure : EXIT.ok;
};
