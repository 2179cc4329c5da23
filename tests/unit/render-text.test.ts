/**
 * `render` keeps every byte it does not have to change: regressions found by QA, each a manifest
 * whose rendering lost or changed text beside the image (a comment on a block scalar's header,
 * the tabs that indent a JSON document).
 */
import { describe, expect, it } from '@jest/globals';
import { renderManifests } from '../../src/manifests/render.js';
import { rewriterFrom } from '../helpers/rules.js';

const rewriter = rewriterFrom('rules:\n  - name: gcr\n    match: gcr.io\n    replace: asia.gcr.io\n');

function render(text: string): string {
  const r = renderManifests(text, { rewriter, annotate: false, scope: 'all' });
  if (!r.ok) throw new Error(r.error);
  return r.output;
}

const pod = (containers: string, nl = '\n'): string =>
  ['apiVersion: v1', 'kind: Pod', 'metadata: {name: web}', 'spec:', '  containers:', containers].join(nl);

describe('a block scalar image', () => {
  it.each([
    ['a comment after its header', '  - name: a\n    image: >- # pinned\n      gcr.io/web:1\n', '  - name: a\n    image: "asia.gcr.io/web:1" # pinned\n'],
    ['no comment', '  - name: a\n    image: |-\n      gcr.io/web:1\n', '  - name: a\n    image: "asia.gcr.io/web:1"\n'],
    ['CRLF and a comment', '  - name: a\r\n    image: >-  # pinned\r\n      gcr.io/web:1\r\n', '  - name: a\r\n    image: "asia.gcr.io/web:1"  # pinned\r\n'],
    // The last bytes of a file that ends without a line break: render added one.
    ['at the end of a file without a final line break', '  - name: a\n    image: >-\n      gcr.io/web:1', '  - name: a\n    image: "asia.gcr.io/web:1"'],
    ['the same with CRLF and a comment', '  - name: a\r\n    image: |- # pinned\r\n      gcr.io/web:1', '  - name: a\r\n    image: "asia.gcr.io/web:1" # pinned'],
  ])('%s: the header becomes the quoted image, its comment stays', (_, containers, expected) => {
    const nl = containers.includes('\r\n') ? '\r\n' : '\n';
    expect(render(pod(containers, nl))).toBe(pod(expected, nl));
  });
});

describe('an entry added to JSON indented with tabs (json.dumps(indent="\\t"), jq --tab)', () => {
  it('is indented with the tabs of the entry before it', () => {
    const json = (o: unknown): string => `${JSON.stringify(o, null, '\t')}\n`;
    const object = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web' }, spec: { containers: [{ name: 'a', image: 'gcr.io/web:1' }] } };
    const r = renderManifests(json(object), { rewriter, annotate: true, scope: 'all' });
    expect(r.ok && r.output).toBe(
      json(object)
        .replace('"name": "web"', `"name": "web",\n\t\t"annotations": {"image-rewriter.io/original-images":"{\\"containers/a\\":\\"gcr.io/web:1\\"}"}`)
        .replace('gcr.io/web:1"\n', 'asia.gcr.io/web:1"\n'),
    );
  });
});

describe('a key that holds null, with a comment after its colon', () => {
  const pulls = rewriterFrom('rules:\n  - name: gcr\n    match: gcr.io\n    replace: asia.gcr.io\n    imagePullSecrets: [regcred]\n');
  const head = 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\n';
  const originals = '{"image-rewriter.io/original-images":"{\\"containers/a\\":\\"gcr.io/web:1\\"}"}';
  it.each([
    ['annotations: # none yet', `  annotations: # none yet\nspec:\n  imagePullSecrets: []\n`, `  annotations: ${originals} # none yet\nspec:\n  imagePullSecrets: [{"name":"regcred"}]\n`, true],
    ['imagePullSecrets: # none', `spec:\n  imagePullSecrets: # none\n`, `spec:\n  imagePullSecrets: [{"name":"regcred"}] # none\n`, false],
    ['an anchor and a comment', `  annotations: &a # none\nspec:\n  imagePullSecrets:\t&b\t# none\n`, `  annotations: &a ${originals} # none\nspec:\n  imagePullSecrets:\t&b\t[{"name":"regcred"}] # none\n`, true],
  ])('%s: the value goes before the comment, which stays', (_, before, after, annotate) => {
    const containers = '  containers:\n  - name: a\n    image: gcr.io/web:1\n';
    const r = renderManifests(head + before + containers, { rewriter: pulls, annotate, scope: 'all' });
    expect(r.ok && r.output).toBe(head + after + containers.replace('gcr.io', 'asia.gcr.io'));
  });
});

describe('a mapping that holds no block list (containers in flow style)', () => {
  const pulls = rewriterFrom('rules:\n  - name: gcr\n    match: gcr.io\n    replace: asia.gcr.io\n    imagePullSecrets: [regcred]\n');
  it.each([
    ['two spaces', '  ', '  '],
    ['four spaces', '    ', '    '],
  ])('%s: an added list is indented under its key, by the step of the mapping', (_, i, step) => {
    const before = `apiVersion: v1\nkind: Pod\nmetadata:\n${i}name: web\nspec:\n${i}containers: [{name: a, image: gcr.io/web:1}]\n`;
    const r = renderManifests(before, { rewriter: pulls, annotate: false, scope: 'all' });
    expect(r.ok && r.output).toBe(`${before.replace('gcr.io', 'asia.gcr.io')}${i}imagePullSecrets:\n${i}${step}- name: regcred\n`);
  });
});

describe('a mapping of scalars only, below a comment less indented than it', () => {
  it('takes its step from the key above, not from the comment: an added mapping is nested by that step', () => {
    const head = 'apiVersion: v1\nkind: Pod\nmetadata:\n  # the name\n    name: web\n';
    const spec = 'spec:\n  containers:\n  - name: a\n    image: gcr.io/web:1\n';
    const r = renderManifests(head + spec, { rewriter, annotate: true, scope: 'all' });
    expect(r.ok && r.output).toBe(`${head}    annotations:\n        image-rewriter.io/original-images: '{"containers/a":"gcr.io/web:1"}'\n${spec.replace('gcr.io', 'asia.gcr.io')}`);
  });
});

describe('a block list or mapping that ends with a comment line (an entry commented out)', () => {
  const pulls = rewriterFrom('rules:\n  - name: gcr\n    match: gcr.io\n    replace: asia.gcr.io\n    imagePullSecrets: [regcred]\n');
  it.each([
    ['a list item', 'spec:\n  imagePullSecrets:\n    - name: old\n    # - name: older\n  containers:\n', 'spec:\n  imagePullSecrets:\n    - name: old\n    # - name: older\n    - name: regcred\n  containers:\n', false],
    ['a mapping entry', 'metadata:\n  name: web\n  annotations:\n    a: b\n    # c: d\n  labels: {}\nspec:\n  imagePullSecrets: []\n  containers:\n', 'metadata:\n  name: web\n  annotations:\n    a: b\n    # c: d\n    image-rewriter.io/original-images: \'{"containers/a":"gcr.io/web:1"}\'\n  labels: {}\nspec:\n  imagePullSecrets: [{"name":"regcred"}]\n  containers:\n', true],
  ])('%s: the new lines go after the comment, at the indentation of the block', (_, before, after, annotate) => {
    const head = 'apiVersion: v1\nkind: Pod\n';
    const containers = '  - name: a\n    image: gcr.io/web:1\n';
    const r = renderManifests(head + before + containers, { rewriter: pulls, annotate, scope: 'all' });
    expect(r.ok && r.output).toBe(head + after + containers.replace('gcr.io', 'asia.gcr.io'));
  });
});

describe('a block followed by comment lines less indented than it (the comment above the next key)', () => {
  it('gets its new lines before them: each comment stays above its key (QA-39)', () => {
    const pulls = rewriterFrom('rules:\n  - name: gcr\n    match: gcr.io\n    replace: asia.gcr.io\n    imagePullSecrets: [regcred]\n');
    for (const nl of ['\n', '\r\n']) {
      const before = ['apiVersion: apps/v1', 'kind: Deployment', 'metadata:', '  name: web', '  # more labels later', '', '# The spec', 'spec:', '  template:', '    spec:', '      containers:', '      - name: a', '        image: gcr.io/web:1', '      # env later', '    # c4', '', '# end', ''];
      const after = ['apiVersion: apps/v1', 'kind: Deployment', 'metadata:', '  name: web', '  # more labels later', '', '  annotations:', `    image-rewriter.io/original-images: '{"containers/a":"gcr.io/web:1"}'`, '# The spec', 'spec:', '  template:', '    spec:', '      containers:', '      - name: a', '        image: asia.gcr.io/web:1', '      # env later', '      imagePullSecrets:', '      - name: regcred', '    # c4', '', '# end', ''];
      const r = renderManifests(before.join(nl), { rewriter: pulls, annotate: true, scope: 'all' });
      expect(r.ok && r.output).toBe(after.join(nl));
    }
  });

  it('leaves the blank lines that end a kept block scalar (`|+`) in its value', () => {
    const head = 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\n  labels:\n    note: |+\n      keep\n\n';
    const spec = '# The spec\nspec:\n  containers:\n  - name: a\n    image: gcr.io/web:1\n';
    const r = renderManifests(head + spec, { rewriter, annotate: true, scope: 'all' });
    expect(r.ok && r.output).toBe(`${head}  annotations:\n    image-rewriter.io/original-images: '{"containers/a":"gcr.io/web:1"}'\n${spec.replace('gcr.io', 'asia.gcr.io')}`);
  });
});

describe('an image whose anchor a field the webhook leaves alone uses too', () => {
  it('keeps that field: its alias is written out with the value it had', () => {
    const text = 'apiVersion: v1\nkind: Pod\nmetadata: {name: web}\nspec:\n  containers:\n  - name: a\n    image: &img gcr.io/web:1\n    env:\n    - name: IMAGE\n      value: *img\n    args: [--image, *img]\n';
    const r = renderManifests(text, { rewriter, annotate: false, scope: 'all' });
    expect(r.ok && r.output).toBe(text.replace('&img gcr.io/web:1', '&img asia.gcr.io/web:1').replace('value: *img', 'value: "gcr.io/web:1"').replace('[--image, *img]', '[--image, "gcr.io/web:1"]'));
  });

  it('leaves the aliases of other anchors as they are (a label value in an env entry)', () => {
    const text = 'apiVersion: v1\nkind: Pod\nmetadata: {name: web, labels: {app: &app web}}\nspec:\n  containers:\n  - name: a\n    image: &img gcr.io/web:1\n    env:\n    - {name: IMAGE, value: *img}\n    - {name: APP, value: *app}\n';
    const r = renderManifests(text, { rewriter, annotate: false, scope: 'all' });
    expect(r.ok && r.output).toBe(text.replace('&img gcr.io/web:1', '&img asia.gcr.io/web:1').replace('value: *img', 'value: "gcr.io/web:1"'));
  });

  it('keeps an alias of an anchor outside the pod spec that no image uses, and writes out those that are', () => {
    const text = 'apiVersion: v1\nkind: Pod\nmetadata: {name: web, annotations: {source: &img gcr.io/web:1}}\nspec:\n  containers:\n  - {name: a, image: *img, args: [*img]}\n';
    const r = renderManifests(text, { rewriter, annotate: false, scope: 'all' });
    expect(r.ok && r.output).toBe(text.replace('image: *img', 'image: "asia.gcr.io/web:1"'));
  });

  it('stops render when the container the webhook changes is an alias of a mapping outside the pod spec, naming the field', () => {
    const text = 'apiVersion: v1\nkind: Pod\nmetadata: {name: web}\nx: &c {name: a, image: gcr.io/web:1}\nspec:\n  containers:\n  - *c\n';
    const r = renderManifests(text, { rewriter, annotate: false, scope: 'all' });
    expect(r.ok).toBe(false);
    expect(!r.ok && r.error).toMatch(/^document 1 \(line 1, column 1\): cannot rewrite .*: \/x\/image would change too \(an anchor or alias/);
  });
});

describe('a key that is an alias of another key (`*k : value`), which kubectl reads as that key', () => {
  it('rewrites the image under it: render stopped with "not found in the YAML text" where kubectl and audit -f read the image', () => {
    const text = 'apiVersion: v1\nkind: Pod\nmetadata: {name: web}\nspec:\n  &c containers:\n  - name: a\n    &k image: gcr.io/a:1\n  - name: b\n    *k : gcr.io/b:1\n  initContainers:\n  - {name: i, *k : gcr.io/i:1}\n';
    expect(render(text)).toBe(text.replace('gcr.io/a:1', 'asia.gcr.io/a:1').replace('gcr.io/b:1', 'asia.gcr.io/b:1').replace('gcr.io/i:1', 'asia.gcr.io/i:1'));
  });
});

describe('a mapping whose first key has an anchor or a tag (`&n name: web`), where an entry is added', () => {
  // The mapping's offset is after the anchor, which its text holds: its end was put that many characters
  // too far (into the next key), and render stopped (exit 2, "cannot rewrite this document's text").
  const pulls = rewriterFrom('rules:\n  - name: gcr\n    match: gcr.io\n    replace: asia.gcr.io\n    imagePullSecrets: [regcred]\n');
  const originals = `    image-rewriter.io/original-images: '{"containers/a":"gcr.io/web:1"}'\n`;
  it.each([
    ['kubectl\'s layout', '  - name: a\n    image: gcr.io/web:1\n', '  imagePullSecrets:\n  - name: regcred\n'],
    ['a list indented under its key, as Helm charts write it', '    - name: a\n      image: gcr.io/web:1\n', '  imagePullSecrets:\n    - name: regcred\n'],
  ])('%s: the annotation and the pull secrets go at the mapping\'s column, after its last line', (_, containers, secrets) => {
    const text = `apiVersion: v1\nkind: Pod\nmetadata:\n  &n name: web\n  !!str labels: {a: b}\nspec:\n  &c containers:\n${containers}status: {}\n`;
    const r = renderManifests(text, { rewriter: pulls, annotate: true, scope: 'all' });
    expect(r.ok && r.output).toBe(text.replace('gcr.io/web', 'asia.gcr.io/web').replace('  !!str labels: {a: b}\n', `  !!str labels: {a: b}\n  annotations:\n${originals}`).replace('status: {}', `${secrets}status: {}`));
  });
  it.each([
    ['a tag alone', '!!str name: web'],
    ['a tag and an anchor', '!!str &n name: web'],
  ])('the first key with %s: the annotation goes after the mapping\'s last line', (_, first) => {
    const text = `apiVersion: v1\nkind: Pod\nmetadata:\n  ${first}\nspec:\n  containers:\n  - name: a\n    image: gcr.io/web:1\n`;
    const r = renderManifests(text, { rewriter: pulls, annotate: true, scope: 'all' });
    expect(r.ok && r.output).toBe(`${text.replace('gcr.io/web', 'asia.gcr.io/web').replace('\nspec:', `\n  annotations:\n${originals}spec:`)}  imagePullSecrets:\n  - name: regcred\n`);
  });
  it('a list after an explicit key (`? containers` then `: - name: a`) is indented from the `?`: the pull secrets list is too', () => {
    const text = 'apiVersion: v1\nkind: Pod\nmetadata: {name: web}\nspec:\n  ? containers\n  : - name: a\n      image: gcr.io/web:1\n';
    const r = renderManifests(text, { rewriter: pulls, annotate: false, scope: 'all' });
    expect(r.ok && r.output).toBe(`${text.replace('gcr.io/web', 'asia.gcr.io/web')}  imagePullSecrets:\n    - name: regcred\n`);
  });
  // A list's offset is its first `-`: an anchor or a tag after it is inside the list's text, not before it.
  it.each(['&r {name: other}', '!!map {name: other}'])('a list whose first item is `- %s`: the pull secret goes after its last item', (first) => {
    const text = `apiVersion: v1\nkind: Pod\nmetadata: {name: web}\nspec:\n  containers:\n  - name: a\n    image: gcr.io/web:1\n  imagePullSecrets:\n  - ${first}\n`;
    const r = renderManifests(text, { rewriter: pulls, annotate: false, scope: 'all' });
    expect(r.ok && r.output).toBe(`${text.replace('gcr.io/web', 'asia.gcr.io/web')}  - name: regcred\n`);
  });
});

describe('lines added at the end of a text without a final newline', () => {
  it('come after a newline each: no empty line between two blocks that end there, and still no final newline', () => {
    const pulls = rewriterFrom('rules:\n  - name: gcr\n    match: gcr.io\n    replace: asia.gcr.io\n    imagePullSecrets: [regcred]\n');
    for (const nl of ['\n', '\r\n']) {
      const text = ['apiVersion: v1', 'kind: Pod', 'spec:', '  containers:', '  - name: a', '    image: gcr.io/web:1'].join(nl);
      const r = renderManifests(text, { rewriter: pulls, annotate: true, scope: 'all' });
      const added = ['  imagePullSecrets:', '  - name: regcred', 'metadata:', '  annotations:', `    image-rewriter.io/original-images: '{"containers/a":"gcr.io/web:1"}'`];
      expect(r.ok && r.output).toBe(text.replace('gcr.io', 'asia.gcr.io') + nl + added.join(nl));
    }
  });
});

describe('a pod spec that two objects of a List share through an alias', () => {
  it('gets the pull secrets both add once', () => {
    const pulls = rewriterFrom('rules:\n  - name: gcr\n    match: gcr.io\n    replace: asia.gcr.io\n    imagePullSecrets: [regcred]\n');
    const list = (image: string, secrets: string): string =>
      `apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Pod\n  metadata: {name: a}\n  spec: &spec\n    containers:\n    - name: a\n      image: ${image}\n${secrets}- apiVersion: apps/v1\n  kind: Deployment\n  metadata: {name: d}\n  spec:\n    template:\n      spec: *spec\n`;
    const r = renderManifests(list('gcr.io/web:1', ''), { rewriter: pulls, annotate: false, scope: 'all' });
    expect(r.ok && r.output).toBe(list('asia.gcr.io/web:1', '    imagePullSecrets:\n    - name: regcred\n'));
  });
});

describe('a pull secret whose name YAML 1.1 reads as a boolean or a number (kubectl reads manifests as YAML 1.1)', () => {
  it.each(['no', 'y', 'on', 'off', 'yes', 'n', '0b1', 'true', 'false', 'null', '0x1f', '1e3', '1.5'])('%s is written quoted, so that kubectl reads the string', (secret) => {
    const pulls = rewriterFrom(`rules:\n  - name: gcr\n    match: gcr.io\n    replace: asia.gcr.io\n    imagePullSecrets: ["${secret}"]\n`);
    const r = renderManifests(pod('  - name: a\n    image: gcr.io/web:1\n'), { rewriter: pulls, annotate: false, scope: 'all' });
    expect(r.ok && r.output).toBe(pod(`  - name: a\n    image: asia.gcr.io/web:1\n  imagePullSecrets:\n  - name: "${secret}"\n`));
  });

  it.each(['regcred', '1-2', 'ecr.pull', 'nope', 'off-1'])('%s, a string in both, stays plain', (secret) => {
    const pulls = rewriterFrom(`rules:\n  - name: gcr\n    match: gcr.io\n    replace: asia.gcr.io\n    imagePullSecrets: [${secret}]\n`);
    const r = renderManifests(pod('  - name: a\n    image: gcr.io/web:1\n'), { rewriter: pulls, annotate: false, scope: 'all' });
    expect(r.ok && r.output).toBe(pod(`  - name: a\n    image: asia.gcr.io/web:1\n  imagePullSecrets:\n  - name: ${secret}\n`));
  });
});

describe('aliases, counted as kubectl counts them (src/manifests/aliasing.ts)', () => {
  // README.md: a document kubectl would refuse as an alias bomb is refused; one it reads, however
  // many aliases it holds, is rendered (the yaml package's own limit refused the 101st use of one anchor).
  const configMap = (aliases: number): string =>
    ['apiVersion: v1', 'kind: ConfigMap', 'metadata: {name: c}', 'data:', '  a: &v x', ...Array.from({ length: aliases }, (_, i) => `  k${i}: *v`), ''].join('\n');
  const labelled = (rules: number): string =>
    ['apiVersion: monitoring.coreos.com/v1', 'kind: PrometheusRule', 'metadata: {name: r}', 'spec:', '  groups:', '  - name: g', '    rules:', ...Array.from({ length: rules }, (_, i) => `    - {alert: A${i}, expr: up == 0, labels: ${i === 0 ? '&l {severity: warning, team: platform}' : '*l'}}`), ''].join('\n');

  it.each([99, 100, 101, 1000])('renders a ConfigMap with %i aliases of one value, as kubectl reads it', (aliases) => {
    expect(render(configMap(aliases))).toBe(configMap(aliases));
  });

  it('renders a PrometheusRule whose 150 rules alias one set of labels', () => {
    expect(render(labelled(150))).toBe(labelled(150));
  });

  it('refuses a billion laughs at the alias where kubectl stops', () => {
    const levels = ['a: &a [x, x, x, x, x, x, x, x, x]', ...Array.from({ length: 8 }, (_, i) => `${'bcdefghi'[i]}: &${'bcdefghi'[i]} [${Array.from({ length: 9 }, () => `*${'abcdefgh'[i]}`).join(', ')}]`)];
    const r = renderManifests(['apiVersion: v1', 'kind: ConfigMap', 'metadata: {name: c}', 'data:', ...levels.map((l) => `  ${l}`), ''].join('\n'), { rewriter, annotate: false, scope: 'all' });
    expect(r).toEqual({ ok: false, error: 'document 1 (line 8, column 26): excessive aliasing: its aliases expand to more than kubectl reads (an alias bomb)' });
  });

  it.each([
    ['a map', 'labels: &x {a: *x}', 'line 3, column 36'],
    ['a list', 'finalizers: &x [a, *x]', 'line 3, column 40'],
    ['a merge', 'labels: &x {<<: *x}', 'line 3, column 37'],
  ])('refuses an anchor that holds its own alias (%s), as kubectl does', (_what, field, where) => {
    const r = renderManifests(`apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, ${field}}\n`, { rewriter, annotate: false, scope: 'all' });
    expect(r).toEqual({ ok: false, error: `document 1 (${where}): anchor 'x' value contains itself` });
  });
});

describe('a directive before a later document (`...`, then `%TAG`, then `---`)', () => {
  it('stays with its document: both documents are rendered', () => {
    const doc = (name: string, tag = ''): string => `apiVersion: v1\nkind: Pod\nmetadata: {name: ${tag}${name}}\nspec:\n  containers: [{name: a, image: gcr.io/${name}:1}]\n`;
    const text = `${doc('one')}...\n%TAG !k! tag:yaml.org,2002:\n---\n${doc('two', '!k!str ')}`;
    expect(render(text)).toBe(text.replaceAll('gcr.io/', 'asia.gcr.io/'));
  });
});

describe('input render refuses or cuts', () => {
  it('refuses binary data from its first byte on (a NUL at offset 0)', () => {
    const r = renderManifests('\u0000apiVersion: v1\nkind: Pod\n', { rewriter, annotate: false, scope: 'all' });
    expect(r).toEqual({ ok: false, error: 'input: binary data (a NUL byte at offset 0), not YAML or JSON' });
  });

  it('does not cut a document before a line that only starts with "---" (a key `---note`)', () => {
    const text = pod('  - name: a\n    image: gcr.io/web:1\n').replace('metadata: {name: web}\n', 'metadata: {name: web}\n---note: kept\n');
    expect(render(text)).toBe(text.replace('gcr.io/', 'asia.gcr.io/'));
  });
});

describe('pull secrets added to an empty flow list (`imagePullSecrets: []`)', () => {
  it('are separated from each other', () => {
    const withSecrets = rewriterFrom('rules:\n  - {name: gcr, match: gcr.io, replace: asia.gcr.io, imagePullSecrets: [one, two]}\n');
    const text = `${pod('  - name: a\n    image: gcr.io/web:1\n')}  imagePullSecrets: []\n`;
    const r = renderManifests(text, { rewriter: withSecrets, annotate: false, scope: 'all' });
    expect(r.ok && r.output).toBe(text.replace('gcr.io/', 'asia.gcr.io/').replace('[]', '[{"name":"one"}, {"name":"two"}]'));
  });
});
