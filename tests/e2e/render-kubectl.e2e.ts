/**
 * `render` (dist/cli.js) read back by the real kubectl: for the release manifests of
 * tests/fixtures/real-world and for manifests that write an image in every way YAML allows
 * (quoted, escaped, folded, on its own line, behind an anchor or a merge key, tagged, in flow
 * style, CRLF, a BOM, several documents and separators), what kubectl sends to the API server for
 * render's output must be what it sends for the input with only the images changed, each to what
 * `explain` says. kubectl reads the files offline (`kubectl annotate --local -o json`: its own YAML
 * reader and document splitting, no API server), so a text edit that kubectl would read otherwise
 * (a quote, an indentation, a comment swallowed, another document's bytes touched) fails here,
 * whatever render's own parser thinks of it.
 */
import { describe, expect } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FIXTURES } from '../helpers/fixtures.js';
import { E2eEnvironment } from './harness/environment.js';
import { scenario } from './harness/scenario.js';
import { distCli, k8sBinaries } from './harness/tools.js';

const env = E2eEnvironment.connect();
const cli = distCli(env.root);
const kubectl = k8sBinaries().kubectl;
const DIR = join(FIXTURES, 'real-world');
const RULES = join(DIR, 'rules.yaml');
const RULES_ENV = { PATH: process.env['PATH'] ?? '', HOME: env.runDir, AWS_ACCOUNT_ID: '123456789012', AWS_REGION: 'eu-west-1' };
const IMAGE_PATH = /\/(?:containers|initContainers|ephemeralContainers)\/\d+\/image$/;

/** The objects of kubectl's `-o json` output: one JSON value per object, one after another. */
function jsonValues(text: string): unknown[] {
  const values: unknown[] = [];
  let depth = 0;
  let start = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === '{' || c === '[') {
      if (depth++ === 0) start = i;
    } else if ((c === '}' || c === ']') && --depth === 0) values.push(JSON.parse(text.slice(start, i + 1)));
  }
  return values;
}

/** What kubectl reads from a file (and would send), offline. */
function kubectlReads(file: string): unknown[] {
  const r = spawnSync(kubectl, ['annotate', '--local', '-f', file, '-o', 'json', 'image-rewriter.io/e2e=read'], { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024, env: RULES_ENV });
  expect({ file, code: r.status, stderr: r.stderr }).toEqual({ file, code: 0, stderr: '' });
  return jsonValues(r.stdout);
}

interface Change {
  readonly path: string;
  readonly from: unknown;
  readonly to: unknown;
}

/** Every path where `a` and `b` differ, to their leaves. */
function changes(a: unknown, b: unknown, path: string, out: Change[]): Change[] {
  if (JSON.stringify(a) === JSON.stringify(b)) return out;
  if (a !== null && b !== null && typeof a === 'object' && typeof b === 'object' && Array.isArray(a) === Array.isArray(b)) {
    const x = a as Record<string, unknown>;
    const y = b as Record<string, unknown>;
    for (const key of new Set([...Object.keys(x), ...Object.keys(y)])) changes(x[key], y[key], `${path}/${key}`, out);
    return out;
  }
  out.push({ path, from: a, to: b });
  return out;
}

/** `explain`'s answer for each image. */
function explain(images: readonly string[]): Map<string, string> {
  if (images.length === 0) return new Map();
  const r = spawnSync(process.execPath, [cli, 'explain', '--config', RULES, ...images], { encoding: 'utf8', env: RULES_ENV });
  expect(r.status).toBe(0);
  return new Map(r.stdout.trim().split('\n').map((line) => {
    const { image, rewritten } = JSON.parse(line) as { image: string; rewritten: string };
    return [image, rewritten];
  }));
}

const POD = 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n';
const container = (image: string): string => `${POD}spec:\n  containers:\n  - name: a\n    image: ${image}\n`;

/** Manifests that write their images in each way YAML allows (and kubectl reads). */
const LAYOUTS: Readonly<Record<string, string>> = {
  'plain': container('gcr.io/x:1'),
  'single-quoted': container("'gcr.io/x:1'"),
  'double-quoted': container('"gcr.io/x:1"'),
  'double-quoted with escapes': container('"gcr\\x2eio/x\\u003a1"'),
  'a comment after it': container('gcr.io/x:1 # pinned'),
  'on the next line': container('\n      gcr.io/x:1'),
  'folded': container('>-\n      gcr.io/x:1'),
  'literal': container('|-\n      gcr.io/x:1'),
  'tagged': container('!!str gcr.io/x:1'),
  'a digest and a long path': container('gcr.io/team/a/b/c/d/e/f/g/h/image-with-a-long-name:1.2.3@sha256:0123456789012345678901234567890123456789012345678901234567890123'),
  'flow style': `${POD}spec: {containers: [{name: a, image: gcr.io/x:1}, {name: b, image: 'quay.io/y'}], initContainers: [{"name": "i", "image": "ghcr.io/z"}]}\n`,
  'an anchor and its alias': `${POD}spec:\n  containers:\n  - name: a\n    image: &i gcr.io/x:1\n  - name: b\n    image: *i\n`,
  'an alias of a value outside the pod spec': `${POD}  annotations:\n    source: &i gcr.io/x:1\nspec:\n  containers:\n  - name: a\n    image: *i\n`,
  'an anchored image that an env value aliases': `${POD}spec:\n  containers:\n  - name: a\n    image: &i gcr.io/x:1\n    env:\n    - {name: IMAGE, value: *i}\n    args: [--image, *i]\n`,
  'an image a merge key brings in': `${POD}spec:\n  initContainers:\n  - &c {name: a, image: gcr.io/x:1}\n  containers:\n  - <<: *c\n    name: b\n  - {<<: [{image: quay.io/y}, *c], name: c}\n`,
  'quoted keys': `${POD}spec:\n  containers:\n  - "name": a\n    'image': gcr.io/x:1\n`,
  'an empty image beside one rewritten': `${POD}spec:\n  containers:\n  - name: a\n    image:\n  - name: b\n    image: gcr.io/x\n`,
  'CRLF': container('gcr.io/x:1').replaceAll('\n', '\r\n'),
  'a byte order mark': `\uFEFF${container('gcr.io/x:1')}`,
  'separators, comments and an end marker': `# head\n${container('gcr.io/x:1')}--- # second\n${container("'quay.io/x:1'")}...\n---\n${container('ghcr.io/x:1')}---\n# only a comment\n`,
  'a Deployment': 'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n  selector: {matchLabels: {a: b}}\n  template:\n    metadata: {labels: {a: b}}\n    spec:\n      containers:\n      - name: a\n        image: gcr.io/x:1\n      ephemeralContainers:\n      - name: e\n        image: quay.io/x\n',
  'a CronJob': "apiVersion: batch/v1\nkind: CronJob\nmetadata: {name: c}\nspec:\n  schedule: '* * * * *'\n  jobTemplate:\n    spec:\n      template:\n        spec:\n          restartPolicy: Never\n          containers: [{name: a, image: \"registry.k8s.io/pause:3.9\"}]\n",
};

describe('render read back by kubectl (offline)', () => {
  const dir = join(env.runDir, 'render-kubectl');
  mkdirSync(dir, { recursive: true });
  const cases: { readonly name: string; readonly file: string }[] = [
    ...readdirSync(DIR).filter((f) => /\.(ya?ml|json)$/.test(f) && f !== 'rules.yaml').sort().map((f) => ({ name: f, file: join(DIR, f) })),
    ...Object.entries(LAYOUTS).map(([name, text], i) => {
      const file = join(dir, `layout-${i}.yaml`);
      writeFileSync(file, text);
      return { name, file };
    }),
  ];

  scenario(env, `kubectl reads render's output as its input with only the images changed, as explain says (${cases.length} manifests)`, () => {
    const problems: string[] = [];
    let rewritten = 0;
    for (const [i, { name, file }] of cases.entries()) {
      const r = spawnSync(process.execPath, [cli, 'render', '--config', RULES, '-f', file], { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024, env: RULES_ENV });
      if (r.status !== 0) {
        problems.push(`${name}: render exit ${String(r.status)}: ${r.stderr.trim()}`);
        continue;
      }
      const out = join(dir, `out-${i}.yaml`);
      writeFileSync(out, r.stdout);
      const found = changes(kubectlReads(file), kubectlReads(out), '', []);
      const answers = explain([...new Set(found.flatMap((c) => (typeof c.from === 'string' ? [c.from] : [])))]);
      for (const c of found) {
        const expected = typeof c.from === 'string' ? answers.get(c.from) : undefined;
        if (!IMAGE_PATH.test(c.path) || expected === undefined || c.to !== expected) problems.push(`${name}: ${c.path}: ${JSON.stringify(c.from)} -> ${JSON.stringify(c.to)} (explain: ${JSON.stringify(expected)})`);
        else rewritten++;
      }
    }
    expect(problems).toEqual([]);
    // Every layout has an image the rules rewrite; the release manifests have 28 (tests/unit/real-world.test.ts).
    expect(rewritten).toBeGreaterThanOrEqual(28 + Object.keys(LAYOUTS).length);
    return Promise.resolve();
  });
});
