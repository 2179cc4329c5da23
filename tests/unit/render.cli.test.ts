/**
 * The `render` command through `main`: stdin and files, --check's summary and exit codes, and bad
 * input (not YAML, an alias bomb, binary data, a bad document among good ones, 50 MB of manifests):
 * a clear error naming the document and the path, exit 2, and nothing on stdout.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import { main } from '../../src/cli/main.js';
import { FIXTURES } from '../helpers/fixtures.js';
import { captureIo } from '../helpers/io.js';

const RULES = join(FIXTURES, 'render', 'rules.yaml');
const dir = mkdtempSync(join(tmpdir(), 'image-rewriter-render-'));
afterAll(() => { rmSync(dir, { recursive: true, force: true }); });

const POD = 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n  - name: app\n    image: gcr.io/app:1\n';

async function render(args: string[], stdin = ''): Promise<{ code: number; out: string; err: string }> {
  const io = captureIo({}, stdin);
  const code = await main(['render', '--config', RULES, ...args], io);
  return { code, out: io.out(), err: io.err() };
}

describe('render command', () => {
  it('YAML refused because of a no-break or ideographic space (copied out of a web page or a chat): names it, where it is', async () => {
    const nbsp = await render([], POD.replace('image: ', 'image:\u00a0'));
    expect(nbsp).toEqual({ code: 2, out: '', err: 'error: stdin: document 1 (line 8, column 5): Implicit map keys need to be followed by map values; at line 8, column 11: a no-break space (U+00A0, from text copied out of a web page or a chat), which YAML does not read as a space: retype it as a space; nothing written\n' });
    const ideographic = await render([], POD.replace('  - name: app', '\u3000 - name: app'));
    expect(ideographic.err).toContain('; at line 7, column 1: an ideographic space (U+3000, from text copied out of a web page or a chat), which YAML does not read as a space: retype it as a space; nothing written\n');
    // Not one in an earlier, valid document's quoted string.
    const earlier = await render([], `${POD.replace('name: p', 'name: "p\u00a0"')}---\n${POD.replace('  - name: app', '\t- name: app')}`);
    expect(earlier.err).not.toContain('U+00A0');
  });
  it('reads stdin by default and writes the rewritten manifests', async () => {
    const r = await render([], POD);
    expect(r).toEqual({ code: 0, out: POD.replace('gcr.io/app', 'asia.gcr.io/app'), err: '' });
  });

  it('reads -f FILE, and -f - is stdin', async () => {
    const file = join(dir, 'pod.yaml');
    writeFileSync(file, POD);
    expect((await render(['-f', file])).out).toContain('image: asia.gcr.io/app:1');
    expect((await render(['-f', '-'], POD)).out).toContain('image: asia.gcr.io/app:1');
  });

  it('--annotate records the originals; --scope pods leaves workload templates alone', async () => {
    expect((await render(['--annotate'], POD)).out).toContain(`image-rewriter.io/original-images: '{"containers/app":"gcr.io/app:1"}'`);
    const deployment = 'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n  template:\n    spec:\n      containers: [{name: a, image: gcr.io/a}]\n';
    expect((await render(['--scope', 'pods'], deployment)).out).toBe(deployment);
    expect((await render([], deployment)).out).toContain('image: asia.gcr.io/a');
  });

  it('--check writes nothing, lists each image on stderr and exits 1 when something would change', async () => {
    const r = await render(['--check'], POD);
    expect(r.code).toBe(1);
    expect(r.out).toBe('');
    expect(r.err).toBe('document 1: Pod p: /spec/containers/0/image: gcr.io/app:1 -> asia.gcr.io/app:1 (rule gcr-asia)\nrender --check: 1 image(s) in 1 document(s) would change\n');
  });

  it('--check counts images and the documents they are in apart: two in one document, one in another, one unchanged', async () => {
    const twoImages = POD.replace('metadata:\n  name: p', 'metadata:\n  name: two').concat('  - name: side\n    image: gcr.io/side:2\n');
    const unchanged = POD.replace('name: p', 'name: kept').replace('gcr.io/app', 'asia.gcr.io/app');
    const r = await render(['--check'], [twoImages, unchanged, POD].join('---\n'));
    expect(r.code).toBe(1);
    expect(r.out).toBe('');
    expect(r.err.split('\n').filter((l) => l.startsWith('document '))).toEqual([
      'document 1: Pod two: /spec/containers/0/image: gcr.io/app:1 -> asia.gcr.io/app:1 (rule gcr-asia)',
      'document 1: Pod two: /spec/containers/1/image: gcr.io/side:2 -> asia.gcr.io/side:2 (rule gcr-asia)',
      'document 3: Pod p: /spec/containers/0/image: gcr.io/app:1 -> asia.gcr.io/app:1 (rule gcr-asia)',
    ]);
    expect(r.err).toContain('\nrender --check: 3 image(s) in 2 document(s) would change\n');
  });

  it('--check exits 0 when nothing would change', async () => {
    const r = await render(['--check'], POD.replace('gcr.io/app', 'asia.gcr.io/app'));
    expect(r).toEqual({ code: 0, out: '', err: 'render --check: no image would change\n' });
  });

  it.each([
    ['empty', ''],
    ['blank lines', '\n  \n'],
    ['only comments and document markers', '# Source: chart/templates/x.yaml\n---\n--- # next\n...\r\n'],
    // Before, these passed without the warning: `jq '.items[0]'` of an empty List prints null.
    ['a document that is null (jq of what is not there)', 'null\n'],
    ['documents that are null in YAML spellings', '--- ~\n---\nNull # nothing\n---\n  NULL\r\n'],
    // Before, these passed without the warning, though they hold no document.
    ['only a %YAML directive', '%YAML 1.2\n'],
    ['directives and markers', '%YAML 1.2\r\n%TAG !e! tag:example.com,2000: # ours\n---\n...\n'],
  ])('--check warns that an input with no manifests checked nothing (%s), and still exits 0', async (_why, input) => {
    const r = await render(['--check'], input);
    expect(r).toEqual({ code: 0, out: '', err: 'warning: the input has no manifests: nothing was checked (did the command before render fail? see set -o pipefail)\nrender --check: no image would change\n' });
  });

  it.each([
    ['empty', ''],
    ['only comments and document markers', '# Source: chart/templates/x.yaml\n---\n'],
    ['only a directive and a marker', '%YAML 1.2\n---\n'],
  ])('without --check, warns that an input with no manifests rendered nothing (%s: a failed kustomize build | render > file), writes it as it is and exits 0', async (_why, input) => {
    const r = await render([], input);
    expect(r).toEqual({ code: 0, out: input, err: 'warning: the input has no manifests: nothing was rendered (did the command before render fail? see set -o pipefail)\n' });
  });

  it.each([
    ['inline after ---', '--- {apiVersion: v1, kind: ConfigMap, metadata: {name: c}}\n'],
    ['after a directive', '%YAML 1.2\n---\n{apiVersion: v1, kind: ConfigMap, metadata: {name: c}}\n'],
  ])('--check does not warn about an input whose only document is %s', async (_where, input) => {
    const r = await render(['--check'], input);
    expect(r).toEqual({ code: 0, out: '', err: 'render --check: no image would change\n' });
  });

  it('warns about images left alone because they are not valid references', async () => {
    const r = await render([], POD.replace('gcr.io/app:1', 'gcr.io/App:1'));
    expect(r.code).toBe(0);
    expect(r.err).toMatch(/^warning: document 1: Pod p: \/spec\/containers\/0\/image: left unchanged: .*lowercase/);
    // An object without a name is named so (a generateName Pod, a template's output).
    const unnamed = await render([], POD.replace('gcr.io/app:1', 'gcr.io/App:1').replace('  name: p\n', '  labels: {}\n'));
    expect(unnamed.err).toMatch(/^warning: document 1: Pod \(no name\): \/spec\/containers\/0\/image: left unchanged: .*lowercase/);
  });

  it('a hostile manifest (escape sequences, newlines in names and images) gets one printable line per warning and change', async () => {
    const hostile = 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: "p\\e[31m\\u202e"\nspec:\n  containers:\n  - name: a\n    image: "gcr.io/x\\e[2J\\nwarning: fake"\n  - name: b\n    image: gcr.io/y\n';
    for (const args of [[], ['--check']]) {
      const r = await render(args, hostile);
      // eslint-disable-next-line no-control-regex -- control characters are what must not be written
      expect(r.err).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202e]/);
      expect(r.err).toMatch(/^warning: document 1: Pod p\\u001b\[31m\\u202e: \/spec\/containers\/0\/image: left unchanged: .*\(x\\u001b\[2J\\u000awarning\) must be lowercase$/m);
      expect(r.err.split('\n').filter((l) => l.startsWith('warning:'))).toHaveLength(1);
    }
    expect((await render(['--check'], hostile)).err).toContain('document 1: Pod p\\u001b[31m\\u202e: /spec/containers/1/image: gcr.io/y -> asia.gcr.io/y (rule gcr-asia)\n');
  });

  it('a hostile manifest that stops the command: its error is one printable line too', async () => {
    const hostile = 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: "p\\e[2J\\nerror: fake"\nspec:\n  containers:\n  - name: a\n    image: 12\n';
    const r = await render([], hostile);
    expect(r.code).toBe(2);
    expect(r.out).toBe('');
    expect(r.err).toBe('error: stdin: document 1 (line 1, column 1): Pod p\\u001b[2J\\u000aerror: fake: /spec/containers/0/image is a number, not a string; nothing written\n');
  });

  describe('--annotate and an original-images annotation the webhook does not recognize', () => {
    const annotated = (value: string): string => POD.replace('  name: p\n', `  name: p\n  annotations:\n    image-rewriter.io/original-images: ${value}\n`);

    it('replaces one that is not a JSON map of strings, as the webhook does, with a warning', async () => {
      const r = await render(['--annotate'], annotated('old'));
      expect(r.code).toBe(0);
      // A plain scalar cannot hold the JSON: it is written double-quoted.
      expect(r.out).toBe(annotated(String.raw`"{\"containers/app\":\"gcr.io/app:1\"}"`).replace('gcr.io/app:1\n', 'asia.gcr.io/app:1\n'));
      expect(r.err).toBe('warning: document 1: Pod p: /metadata/annotations/image-rewriter.io~1original-images: is not a JSON map of strings; replaced\n');
    });

    it.each([
      ['""', String.raw`"{\"containers/app\":\"gcr.io/app:1\"}"`],
      ["''", `'{"containers/app":"gcr.io/app:1"}'`],
    ])('replaces an empty string written %s, in its quotes (they are not an empty value to fill)', async (value, written) => {
      const r = await render(['--annotate'], annotated(value));
      expect(r.code).toBe(0);
      expect(r.out).toBe(annotated(written).replace('gcr.io/app:1\n', 'asia.gcr.io/app:1\n'));
    });

    it.each([
      ['an annotation that is not a string (the API server would reject it)', annotated('42'), ['--annotate'], /^error: stdin: document 1 \(line 1, column 1\): Pod p: \/metadata\/annotations\/image-rewriter\.io~1original-images is not a string; nothing written\n$/],
      ['annotations that are not a map', POD.replace('  name: p\n', '  name: p\n  annotations: [x]\n'), ['--annotate'], /^error: stdin: document 1 \(line 1, column 1\): Pod p: \/metadata\/annotations is not an object; nothing written\n$/],
      ['imagePullSecrets that is not a list', `${POD.replace('gcr.io/app:1', 'nginx:1')}  imagePullSecrets: ecr-pull\n`, [], /^error: stdin: document 1 \(line 1, column 1\): Pod p: \/spec\/imagePullSecrets is not a list; nothing written\n$/],
    ])('still refuses %s: exit 2, nothing written', async (_name, input, args, message) => {
      const r = await render(args, input);
      expect(r.code).toBe(2);
      expect(r.out).toBe('');
      expect(r.err).toMatch(message);
    });
  });

  const bomb = ['a: &a ["x","x","x","x","x","x","x","x","x"]', ...Array.from({ length: 9 }, (_, i) => `${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)}]`)].join('\n');

  it.each([
    ['not YAML', `${POD}---\nkey: [unclosed\n`, /^error: stdin: document 2 \(line 11, column \d+\): .+; nothing written\n$/],
    ['an alias bomb', `${POD}---\n${bomb}\n`, /^error: stdin: document 2 \(line 13, column 17\): excessive aliasing: its aliases expand to more than kubectl reads \(an alias bomb\); nothing written\n$/],
    ['binary data', `${POD}\u0000\u0001\u0002\u00ff garbage`, /^error: stdin: input: binary data \(a NUL byte at offset 103\), not YAML or JSON; nothing written\n$/],
    ['a scalar document', `${POD}---\njust some text\n`, /^error: stdin: document 2 \(line 9, column 1\): the document is a string, not a Kubernetes object/],
    ['a document without kind', `${POD}---\napiVersion: v1\nmetadata: {}\n`, /^error: stdin: document 2 \(line 9, column 1\): \/kind is missing/],
    // Comments after a document are no document of their own: the next one is still document 2.
    ['a document without kind after comments', `${POD}# the end of the Pod\n# more\n---\napiVersion: v1\nmetadata: {}\n`, /^error: stdin: document 2 \(line 11, column 1\): \/kind is missing/],
    ['a document without kind after a header of comments', '# generated\n---\napiVersion: v1\nmetadata: {}\n', /^error: stdin: document 1 \(line 2, column 1\): \/kind is missing/],
    ['an image that is not a string', `${POD}---\n${POD.replace('image: gcr.io/app:1', 'image: 5')}`, /^error: stdin: document 2 \(line 9, column 1\): Pod p: \/spec\/containers\/0\/image is a number, not a string; nothing written\n$/],
    ['a List item that is not an object', 'apiVersion: v1\nkind: List\nitems: [3]\n', /^error: stdin: document 1 \(line 1, column 1\): \/items\/0 is a number, not a Kubernetes object/],
    ['duplicate keys', `${POD}metadata: {}\n`, /^error: stdin: document 1 \(line 9, column 1\): Map keys must be unique/],
  ])('%s: a clear error, exit 2, nothing written', async (_name, input, message) => {
    const r = await render([], input);
    expect(r.code).toBe(2);
    expect(r.out).toBe('');
    expect(r.err).toMatch(message);
  });

  it('names stdin as stdin in an error when it is given as -f - (as audit does)', async () => {
    const r = await render(['-f', '-'], `${POD}---\nkey: [unclosed\n`);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/^error: stdin: document 2 /);
  });

  it('an unreadable file: exit 2', async () => {
    const r = await render(['-f', join(dir, 'missing.yaml')]);
    expect(r).toEqual({ code: 2, out: '', err: `error: cannot read ${join(dir, 'missing.yaml')}: no such file or directory (ENOENT)\n` });
  });

  it('a directory (as kubectl apply -f takes one): exit 2, and says -f takes one file', async () => {
    const r = await render(['-f', dir, '--check']);
    expect(r).toEqual({ code: 2, out: '', err: `error: cannot read ${dir}: illegal operation on a directory (EISDIR); -f takes one file, not a directory, or - for stdin\n` });
  });

  it('usage errors: positionals, a bad --scope', async () => {
    expect((await render(['x.yaml'])).code).toBe(64);
    expect((await render(['--scope', 'some'])).code).toBe(64);
  });

  it('an empty --namespace (a post-renderer given --namespace=$NS with NS unset): a usage error, not "no namespace"', async () => {
    for (const flag of [['-n', ''], ['--namespace=']]) {
      expect(await render(flag, POD)).toEqual({ code: 64, out: '', err: expect.stringContaining('error: -n/--namespace is empty: name a namespace, or leave the flag out') });
    }
  });

  // kubectl (pflag) reads `-f=FILE`, `-n=NS`, `-o=json` as `-f FILE`...; node's parseArgs took `=FILE`
  // as the value: render said "cannot read =pod.yaml", audit "-o must be one of table, json".
  it('-X=VALUE is -X VALUE, as kubectl reads it', async () => {
    const file = join(dir, 'short-equals.yaml');
    writeFileSync(file, POD.replace('gcr.io/app:1', 'quay.io/app:1'));
    expect(await render([`-f=${file}`, '-n=team-a', '--check'])).toEqual({ code: 1, out: '', err: expect.stringContaining('quay.io/app:1 -> mirror.example.com/quay/app:1 (rule quay-team-a)') });
    expect((await render(['-n=', '-f', file])).err).toContain('-n/--namespace is empty');
    writeFileSync(file, POD.replace('gcr.io/app:1', 'quay.io/app:1').replace('name: p', 'name: p\n  namespace: team-a'));
    const io = captureIo();
    expect(await main(['audit', '--config', RULES, `-f=${file}`, '-o=json', '-n=team-a'], io)).toBe(1);
    expect(io.out()).toBe('{"namespace":"team-a","kind":"Pod","name":"p","container":"app","image":"quay.io/app:1","rewritten":"mirror.example.com/quay/app:1","rule":"quay-team-a"}\n');
  });

  // A namespace kubectl and Helm refuse (`Team-A`, a typo's capital) matched no rule limited to
  // namespaces: render wrote the images unrewritten and --check passed (exit 0), as if the rules
  // did not apply there. It is a usage error, as it is for audit -n and explain --namespace.
  it('--namespace must be a namespace name: a typo in it is a usage error, not a passing --check', async () => {
    const QUAY = POD.replace('gcr.io/app:1', 'quay.io/app:1');
    expect((await render(['--namespace', 'team-a', '--check'], QUAY)).code).toBe(1);
    for (const namespace of ['Team-A', 'team_a', 'team-a ', '..', 'x'.repeat(64)]) {
      for (const flags of [['--namespace', namespace, '--check'], [`--namespace=${namespace}`], ['-n', namespace]]) {
        const r = await render(flags, QUAY);
        // A trailing space is said as well: the value alone does not show it.
        const space = namespace.endsWith(' ') ? `: a space at character ${namespace.length}` : '';
        expect(r).toEqual({ code: 64, out: '', err: expect.stringContaining(`error: -n/--namespace must be a namespace name (a DNS-1123 label: lower-case letters, digits and "-", starting and ending with a letter or digit, at most 63 characters): ${namespace}${space}\n`) });
      }
    }
    const io = captureIo();
    expect(await main(['explain', '--config', RULES, '--namespace', 'Team-A', 'quay.io/app:1'], io)).toBe(64);
    expect(io.out()).toBe('');
    expect(io.err()).toContain('error: -n/--namespace must be a namespace name (');
  });

  // QA-25: a chart without metadata.namespace (what `helm template` and a Helm post-renderer give)
  // was rendered as in no namespace, where a rule limited to namespaces never applies: render left
  // its images upstream and --check passed (exit 0) without a word, while explain notes the same case.
  it('notes a rule limited to namespaces that would take an image of an object without a namespace', async () => {
    const QUAY = POD.replace('gcr.io/app:1', 'quay.io/app:1');
    const note = 'note: rule "quay-team-a" applies only in the namespaces it lists, where an image of an object without metadata.namespace would be rewritten: give --namespace NS to render the objects applied in NS\n';
    expect(await render(['--check'], QUAY)).toEqual({ code: 0, out: '', err: `${note}render --check: no image would change\n` });
    expect(await render([], QUAY)).toEqual({ code: 0, out: QUAY, err: note });
    // Not when the object or --namespace names its namespace, nor for images no such rule takes.
    expect((await render(['--namespace', 'shop'], QUAY)).err).toBe('');
    expect((await render([], QUAY.replace('name: p', 'name: p\n  namespace: shop'))).err).toBe('');
    expect((await render([], POD)).err).toBe('');
    // A workload's template too, once for any number of objects; not with --scope pods, which leaves it alone.
    const deployment = 'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n  template:\n    spec:\n      containers: [{name: a, image: quay.io/a}]\n';
    expect((await render([], [deployment, QUAY].join('---\n'))).err).toBe(note);
    expect((await render(['--scope', 'pods'], deployment)).err).toBe('');
  });

  // QA-25: the same silence in `audit -f`: "no image would be rewritten", exit 0.
  it('audit -f notes the same rules, and not with -n', async () => {
    const file = join(dir, 'no-namespace.yaml');
    writeFileSync(file, POD.replace('gcr.io/app:1', 'quay.io/app:1'));
    const io = captureIo();
    expect(await main(['audit', '--config', RULES, '-f', file], io)).toBe(0);
    expect(io.out()).toBe('audit: no image would be rewritten\n');
    expect(io.err()).toBe('note: rule "quay-team-a" applies only in the namespaces it lists, where an image of an object without metadata.namespace would be rewritten: give --namespace NS to audit the objects applied in NS\n');
    const named = captureIo();
    expect(await main(['audit', '--config', RULES, '-f', file, '-n', 'team-a', '-o', 'json'], named)).toBe(1);
    expect(named.err()).not.toContain('note:');
  });

  it('2 MB of manifests (50 MB: docs/performance.md): rendered whole, memory proportional to the input', async () => {
    const unit = `${POD}---\n`;
    const copies = Math.ceil((2 * 1024 * 1024) / unit.length);
    const input = unit.repeat(copies);
    // A real collection before each reading, so the figure is what the command keeps, not garbage
    // that happens not to be collected yet.
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    gc();
    const before = process.memoryUsage().heapUsed;
    const r = await render(['--check'], input);
    gc();
    const grown = process.memoryUsage().heapUsed - before;
    expect(r.code).toBe(1);
    expect(r.err.split('\n').length).toBe(copies + 2);
    // Documents are parsed one at a time: what stays is the input, the summary and the output, never the documents' trees.
    expect(grown).toBeLessThan(20 * input.length);
  });
});
