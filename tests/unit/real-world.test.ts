/**
 * `render`, `audit -f` and the webhook on the release manifests of well-known projects
 * (tests/fixtures/real-world/, their origins in its README.md), with a fleet's rules (public
 * registries to ECR, `${env:...}` in every target). Each manifest's images are found here on their
 * own (a walk of the YAML, not the code under test) and, for every file:
 * - each image of a pod spec comes out as `explain` says for it (a container's `auto`, Istio's
 *   placeholder, excepted: docs/design.md, "Rewrite semantics"), and no other byte changes: the
 *   output with the input's image scalars put back is the input;
 * - rendering the output again changes nothing; CRLF line endings and a UTF-8 BOM are kept;
 * - `audit -f` lists exactly the images that would change, with their kinds, names and namespaces
 *   (kube-system left out, as the webhook is never called there);
 * - each object's CREATE through the webhook (review(), its patch applied) equals the rendered object.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { isMap, isScalar, isSeq, parseAllDocuments, type Document, type Scalar } from 'yaml';
import { main } from '../../src/cli/main.js';
import { explainImage } from '../../src/core/explain.js';
import { review } from '../../src/core/review.js';
import { renderManifests } from '../../src/manifests/render.js';
import { FIXTURES, TEST_ENV } from '../helpers/fixtures.js';
import { captureIo } from '../helpers/io.js';
import { rewriterFrom } from '../helpers/rules.js';
import { apply, decodePatch } from './admission.helpers.js';

const DIR = join(FIXTURES, 'real-world');
const RULES = join(DIR, 'rules.yaml');
const rewriter = rewriterFrom(readFileSync(RULES, 'utf8'));
const FILES = readdirSync(DIR).filter((f) => /\.(ya?ml|json)$/.test(f) && f !== 'rules.yaml').sort();

/** Images in each file's pod specs, and how many of them the rules rewrite: a change of either is a change of behaviour. */
const EXPECTED: Readonly<Record<string, readonly [images: number, rewritten: number]>> = {
  'argocd-application-controller-statefulset.yaml': [1, 1],
  'argocd-redis-deployment.yaml': [1, 1],
  'argocd-redis-initial-password-cronjob.yaml': [1, 1],
  'calico.yaml': [5, 5],
  'cluster-autoscaler-autodiscover.yaml': [1, 1],
  'descheduler-cronjob.yaml': [1, 1],
  'external-dns-deployment.yaml': [1, 1],
  // extensions/v1beta1 DaemonSets: no API server serves them since Kubernetes 1.16.
  'flannel.yml': [0, 0],
  'ingress-nginx-cloud.yaml': [3, 3],
  'istio-addons-prometheus.yaml': [2, 2],
  // `image: auto`, left for Istio's injector.
  'istio-egressgateway-injection.yaml': [1, 0],
  'k8s-website-statefulset-web.yaml': [1, 1],
  // `ko://...`: not a reference, left with a warning.
  'knative-activator.yaml': [1, 0],
  'kube-prometheus-blackbox-exporter-deployment.yaml': [3, 3],
  'kube-prometheus-prometheus-operator-0.31.yaml': [1, 1],
  'kube-state-metrics-deployment.yaml': [1, 1],
  'kubectl-testdata-multi-resource-list.json': [1, 1],
  'kubectl-testdata-multi-resource-rclist.json': [2, 2],
  'kyverno-deployment.yaml': [2, 2],
  'metrics-server-deployment.yaml': [1, 1],
  // github.com/knative/...: a registry no rule names.
  'tekton-controller-2018.yaml': [1, 0],
};

/** Where each kind keeps its pod spec, by `group/kind` (written out here, apart from src/core/workload.ts). */
const POD_SPEC: Readonly<Record<string, readonly string[]>> = {
  '/Pod': ['spec'],
  '/ReplicationController': ['spec', 'template', 'spec'],
  '/PodTemplate': ['template', 'spec'],
  'apps/Deployment': ['spec', 'template', 'spec'],
  'apps/StatefulSet': ['spec', 'template', 'spec'],
  'apps/DaemonSet': ['spec', 'template', 'spec'],
  'apps/ReplicaSet': ['spec', 'template', 'spec'],
  'batch/Job': ['spec', 'template', 'spec'],
  'batch/CronJob': ['spec', 'jobTemplate', 'spec', 'template', 'spec'],
};

interface Found {
  readonly node: Scalar<string>;
  readonly kind: string;
  readonly name: string;
  readonly namespace: string;
  /** `containers` name, or `volumes/<name>` for an image volume (audit's `container`). */
  readonly container: string;
  /** A container's (or init container's) `auto`: Istio's placeholder, no image. */
  readonly placeholder: boolean;
}

const str = (v: unknown): string => (typeof v === 'string' ? v : '');

function isStringScalar(n: unknown): n is Scalar<string> {
  return isScalar(n) && typeof n.value === 'string';
}

/** The image scalars of the pod specs in `node` (an object, or a List of them), in document order. */
function imagesIn(node: unknown, out: Found[]): void {
  if (!isMap(node)) return;
  const kind = str(node.get('kind'));
  const items = node.get('items', true);
  if (kind.endsWith('List') && isSeq(items)) {
    for (const item of items.items) imagesIn(item, out);
    return;
  }
  const apiVersion = str(node.get('apiVersion'));
  const group = apiVersion.includes('/') ? apiVersion.slice(0, apiVersion.indexOf('/')) : '';
  const path = POD_SPEC[`${group}/${kind}`];
  const spec = path === undefined ? undefined : node.getIn(path, true);
  if (!isMap(spec)) return;
  const name = str(node.getIn(['metadata', 'name']));
  const namespace = str(node.getIn(['metadata', 'namespace']));
  for (const list of ['initContainers', 'containers', 'ephemeralContainers']) {
    const seq = spec.get(list, true);
    if (!isSeq(seq)) continue;
    for (const c of seq.items) {
      const image = isMap(c) ? c.get('image', true) : undefined;
      if (!isMap(c) || !isStringScalar(image)) continue;
      out.push({ node: image, kind, name, namespace, container: str(c.get('name')), placeholder: image.value === 'auto' && list !== 'ephemeralContainers' });
    }
  }
  const volumes = spec.get('volumes', true);
  if (isSeq(volumes)) {
    for (const v of volumes.items) {
      const reference = isMap(v) ? v.getIn(['image', 'reference'], true) : undefined;
      if (isMap(v) && isStringScalar(reference)) out.push({ node: reference, kind, name, namespace, container: `volumes/${str(v.get('name'))}`, placeholder: false });
    }
  }
}

function parse(text: string): Document[] {
  const docs = parseAllDocuments(text);
  if (!Array.isArray(docs)) throw new Error('no documents');
  for (const d of docs) expect(d.errors).toEqual([]);
  return docs;
}

function imagesOf(text: string): Found[] {
  const out: Found[] = [];
  for (const d of parse(text)) imagesIn(d.contents, out);
  return out;
}

function render(text: string): string {
  const r = renderManifests(text, { rewriter, annotate: false, scope: 'all' });
  if (!r.ok) throw new Error(r.error);
  return r.output;
}

/** `output` with the text of each of its image scalars replaced by the input's scalar text. */
function putBack(output: string, outImages: readonly Found[], input: string, inImages: readonly Found[]): string {
  const edits = outImages.map((o, i) => {
    const from = inImages[i]?.node.range;
    const to = o.node.range;
    if (from === undefined || from === null || to === undefined || to === null) throw new Error('a scalar without its range');
    return { start: to[0], end: to[1], text: input.slice(from[0], from[1]) };
  });
  let text = output;
  for (const e of edits.sort((a, b) => b.start - a.start)) text = text.slice(0, e.start) + e.text + text.slice(e.end);
  return text;
}

const expected = (f: Found): string => (f.placeholder ? f.node.value : explainImage(rewriter, f.node.value).rewritten);

describe('real-world manifests', () => {
  it('has a row of EXPECTED for every file, and at least 20 files', () => {
    expect(FILES).toEqual(Object.keys(EXPECTED).sort());
    expect(FILES.length).toBeGreaterThanOrEqual(20);
  });

  it.each(FILES)('%s: each image as explain says, every other byte unchanged, idempotent', (file) => {
    const input = readFileSync(join(DIR, file), 'utf8');
    const output = render(input);
    const before = imagesOf(input);
    const after = imagesOf(output);
    expect(after.map((f) => f.node.value)).toEqual(before.map(expected));
    expect([before.length, before.filter((f) => expected(f) !== f.node.value).length]).toEqual(EXPECTED[file]);
    expect(putBack(output, after, input, before)).toBe(input);
    expect(parse(output)).toHaveLength(parse(input).length);
    expect(render(output)).toBe(output);
  });

  it.each(FILES)('%s: CRLF line endings and a UTF-8 BOM are kept', (file) => {
    const input = readFileSync(join(DIR, file), 'utf8');
    const output = render(input);
    const crlf = (s: string): string => s.replace(/\n/g, '\r\n');
    expect(render(`\uFEFF${crlf(input)}`)).toBe(`\uFEFF${crlf(output)}`);
  });

  // `cat *.yaml` of files an editor saved with a BOM, joined with `---` lines: kubectl reads each
  // document on its own, its BOM skipped; render rewrites them as each file alone, BOMs kept.
  it('all of them joined by ---, each with its BOM, render as each alone', async () => {
    const texts = FILES.map((f) => readFileSync(join(DIR, f), 'utf8'));
    const joined = texts.map((t) => `\uFEFF${t}`).join('---\n');
    expect(render(joined)).toBe(texts.map((t) => `\uFEFF${render(t)}`).join('---\n'));
    const io = captureIo(TEST_ENV, joined);
    expect(await main(['audit', '--config', RULES, '-f', '-', '-o', 'json'], io)).toBe(1);
    expect(io.out().split('\n').filter((l) => l !== '')).toHaveLength(
      texts.flatMap(imagesOf).filter((f) => expected(f) !== f.node.value && f.namespace !== 'kube-system').length,
    );
  });

  it.each(FILES)('%s: audit -f lists exactly the images that would change', async (file) => {
    const want = imagesOf(readFileSync(join(DIR, file), 'utf8'))
      .filter((f) => expected(f) !== f.node.value && f.namespace !== 'kube-system')
      .map((f) => ({ namespace: f.namespace, kind: f.kind, name: f.name, container: f.container, image: f.node.value, rewritten: expected(f), rule: explainImage(rewriter, f.node.value).rule }));
    const io = captureIo(TEST_ENV);
    const code = await main(['audit', '--config', RULES, '-f', join(DIR, file), '-o', 'json'], io);
    // Sorted: audit lists a pod spec's containers before its init containers.
    const sorted = (rows: unknown[]): string[] => rows.map((r) => JSON.stringify(r)).sort();
    expect(sorted(io.out().split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as unknown))).toEqual(sorted(want));
    expect(code).toBe(want.length > 0 ? 1 : 0);
  });

  it.each(FILES)("%s: each object's CREATE through the webhook gives the rendered object", (file) => {
    const input = readFileSync(join(DIR, file), 'utf8');
    const flatten = (docs: Document[]): unknown[] =>
      docs.flatMap((d) => {
        const o: unknown = d.toJS();
        const items = (o as { items?: unknown } | null)?.items;
        return Array.isArray(items) && str((o as { kind?: unknown }).kind).endsWith('List') ? (items as unknown[]) : [o];
      });
    const objects = flatten(parse(input));
    const rendered = flatten(parse(render(input)));
    objects.forEach((o, i) => {
      const { apiVersion, kind, metadata } = o as { apiVersion: string; kind: string; metadata?: { namespace?: string } };
      const group = apiVersion.includes('/') ? apiVersion.slice(0, apiVersion.indexOf('/')) : '';
      if (POD_SPEC[`${group}/${kind}`] === undefined) return;
      const version = apiVersion.slice(apiVersion.indexOf('/') + 1);
      const resource = `${kind.toLowerCase()}s`;
      const outcome = review(
        {
          apiVersion: 'admission.k8s.io/v1',
          kind: 'AdmissionReview',
          request: { uid: `u${String(i)}`, kind: { group, version, kind }, resource: { group, version, resource }, operation: 'CREATE', namespace: metadata?.namespace ?? 'default', object: o },
        },
        rewriter,
        { recordOriginals: false },
      );
      if (!outcome.ok) throw new Error(outcome.message);
      const ops = decodePatch(outcome.response.response);
      expect(ops === undefined ? o : apply(o, ops)).toEqual(rendered[i]);
    });
  });
});
