/**
 * The YAML subset reader (src/config/yaml-subset.ts) against the `yaml` package as rules documents
 * are read with it (src/config/yaml-document.ts): whatever text the subset reader accepts, the
 * package reads without error or warning to the same value, keys in the same order. Checked on
 * generated documents in many styles, on the same with YAML-significant characters inserted, removed
 * or replaced, and on every rules document of the repository; and the reader must accept the
 * documents it is there for (the README's, the template's default, the usual block style).
 */
import { describe, expect, it } from '@jest/globals';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { readYamlSubset } from '../../src/config/yaml-subset.js';
import { readYaml } from '../../src/config/yaml-document.js';
import { readWithoutYaml } from '../../src/config/rules-text.js';

/** The subset reader's verdict must be the package's; returns whether the subset reader accepted `text`. */
function agrees(text: string): boolean {
  const mine = readYamlSubset(text);
  if (mine === undefined) return false;
  const theirs = readYaml(text);
  if (!theirs.ok) throw new Error(`the package refuses what the subset read:\n${text}\n${JSON.stringify(theirs.issues)}`);
  expect(theirs.warnings).toEqual([]);
  expect(mine).toStrictEqual(theirs.value);
  // Key order too: the rules are tried in order, and an error names the first bad entry.
  expect(JSON.stringify(mine)).toBe(JSON.stringify(theirs.value));
  return true;
}

const ROOT = join(import.meta.dirname, '..', '..');

describe('YAML subset reader', () => {
  it('reads the documents it is for as the YAML package does', () => {
    const accepted = [
      'rules: []',
      'rules: []\n',
      'rules: [{name: gcr, match: gcr.io, replace: asia.gcr.io}]',
      readFileSync(join(ROOT, 'tests', 'fixtures', 'valid-demo.yaml'), 'utf8'),
      [
        '# mirrors',
        'rules:',
        '  - name: k8s-registry   # the registry',
        '    match: registry.k8s.io',
        '    replace: ${env:AWS_ACCOUNT_ID}.dkr.ecr.${env:AWS_REGION}.amazonaws.com/k8s',
        '  - name: quay',
        "    regex: 'quay\\.io/(?<org>[^/]+)/(.+)'",
        '    replace: mirror.example.com/quay/$<org>/$2',
        '  - name: dockerhub',
        '    match: docker.io',
        '    replace: "mirror.example.com/docker-hub"',
        '    imagePullSecrets: [ecr-pull]',
        '    namespaces:',
        '    - team-*',
        "    - 'it''s'",
        'exclude:',
        '- docker.io/library/busybox',
        '',
      ].join('\n'),
      'rules:\n-\n  name: a\n  match: b.io\n  replace: c.io\n',
      'rules:\n  -   name: a\n      match: b.io\n      replace: c#d.io  # not a comment before the space\n',
      "rules: [ {name: a, match: 'b.io', replace: \"c.io\"} , {name: x y, match: b.io/x, replace: c.io} ]  # two\n",
      'rules: [[a, [b]], {}]\n',
      'a: ${env:X} #',
      'rules:\r\n  - name: gcr # saved on Windows\r\n    match: gcr.io\r\n    replace: asia.gcr.io\r\n',
      'allowOptOut: false\nverify: true\nx: [True, FALSE, 12abc, 1.2.3, 2024-01-01, 1_000, 0x1g]\nt: 12:30\n',
      'rules:\n  - name: central\n    match: 123456789012.dkr.ecr.us-east-1.amazonaws.com\n    replace: ${env:AWS_ACCOUNT_ID}.dkr.ecr.${env:AWS_REGION}.${env:AWS_URL_SUFFIX}\n',
    ];
    for (const text of accepted) expect(agrees(text)).toBe(true);
    expect(readWithoutYaml('rules: []')).toEqual({ ok: true, value: { rules: [] }, warnings: [] });
  });

  it('declines what it leaves to the YAML parser', () => {
    const declined = [
      '', '# only a comment\n', 'rules:', 'rules: ~', 'rules: null', 'rules: NULL', 'a: 1', 'a: 1.5', 'a: .5', 'a: 1e3', 'a: 1.', 'a: 0x1f', 'a: 0o17',
      'a: [1]', 'a: .inf', 'a: -.Inf', 'a: .NaN', 'a: no', 'a: Yes', 'a: ON', 'a: tRUE', 'a: -x', 'a: +x', 'true: a', 'null: a',
      'a: &x b', 'a: *x', 'a: !!str b', 'a: !Ref b', 'a: |\n  b', 'a: >\n  b', 'a: "b\\n"', "a: 'b", 'a: "b', 'a: b\n  c', 'a: b: c', 'a: b:',
      'a:\tb', 'a: b\r', 'a: b\rc: d', 'a: "b\r\n  c"', '\uFEFFa: b', 'a: é', '---\na: b', 'a: b\n---\nc: d', '%YAML 1.2\n---\na: b', 'a: b\n...\n', 'a: b\na: c',
      '__proto__: b', 'a: [b,]', 'a: [b, , c]', 'a: [b', 'a: [b,\n  c]', 'a: {b: c', 'a: {b:c}', 'a: [b: c]', 'a: [b#c]', 'a: {b: {c: }}',
      '- - a', '? a\n: b', 'a:b', '"a": b', 'a : b', '  a: b\n b: c', 'a:\n  - b\n   - c', 'a:\n  b: c\n d: e', 'a: [b] c', "a: 'b' c",
      'a: @b', 'a: `b', 'a: %b', 'a: b\n- c', 'a:\n- b\nc', 'y: b', 'on: b', 'a: [{b: c}]]', 'a: b #c\n  d',
    ];
    for (const text of declined) {
      expect([text, readYamlSubset(text)]).toEqual([text, undefined]);
    }
  });

  it('reads every rules document of the repository as the YAML package does', () => {
    const texts: string[] = [];
    const fixtures = join(ROOT, 'tests', 'fixtures');
    for (const f of readdirSync(fixtures)) if (f.endsWith('.yaml')) texts.push(readFileSync(join(fixtures, f), 'utf8'));
    // The rules documents in the README and the docs (fenced YAML blocks holding `rules:`).
    for (const doc of ['README.md', ...readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => join('docs', f))]) {
      for (const m of readFileSync(join(ROOT, doc), 'utf8').matchAll(/```ya?ml\n([\s\S]*?)```/g)) if (m[1]?.includes('rules:')) texts.push(m[1]);
    }
    let accepted = 0;
    for (const text of texts) if (agrees(text)) accepted++;
    expect(texts.length).toBeGreaterThan(20);
    // Most are in the subset (the invalid fixtures' syntax and tags are not).
    expect(accepted).toBeGreaterThan(texts.length / 2);
  });

  /** Scalars: plain words and references, with the characters that make YAML read them otherwise. */
  const scalar = fc.oneof(
    { arbitrary: fc.constantFrom('gcr.io', 'asia.gcr.io', 'registry.k8s.io/pause', '${env:AWS_REGION}', 'a b', 'x', 'quay\\.io/(.+)', '$<org>/$2', 'team-*', 'a#b', 'it\'s', 'a"b', 'a:b', '[x]', '{y}'), weight: 12 },
    fc.constantFrom('1', '1.5', '.5', '-1', '+1', '0x1f', '0o7', '1e3', '.inf', '.nan', '~', 'null', 'Null', 'true', 'False', 'TRUE', 'tRUE', 'yes', 'no', 'on', 'y',
      '123456789012.dkr.ecr.us-east-1.amazonaws.com', '1.2.3', '0x1g', '0o8', '1_000', '2024-01-01', '12:30', '1.', '1.e5', '.5e1', '+.inf', '-.Inf', '1e', '0X1F', '0b1', '12abc', '1 2', '', ' ', '-', '- a', ': a', 'a: b', 'a #b', '#a', '&a', '*a', '!a', '|', '>', '%a', '@a', '`a', '?', '? a'),
    fc.string({ unit: fc.constantFrom('a', 'b', '.', '/', ':', ' ', '#', '-', '[', ']', '{', '}', ',', "'", '"', '\\', '*', '&', '!', '0', '?', '%', '@'), maxLength: 8 }),
  );
  const keyName = fc.oneof(fc.constantFrom('rules', 'name', 'match', 'regex', 'replace', 'exclude', 'namespaces', 'a', 'b_c', 'd-e', '__proto__', 'true', 'null', 'y', 'on'), fc.stringMatching(/^[a-z_][a-z0-9_-]{0,5}$/));
  type Node = { s: string } | { list: Node[] } | { map: [string, Node][] };
  const { node } = fc.letrec<{ node: Node }>((tie) => ({
    node: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      scalar.map((s) => ({ s })),
      fc.array(tie('node'), { maxLength: 3 }).map((list) => ({ list })),
      fc.array(fc.tuple(keyName, tie('node')), { maxLength: 4 }).map((map) => ({ map })),
    ),
  }));
  interface Style {
    indent: number;
    compact: boolean;
    quote: 'plain' | 'single' | 'double' | 'mixed';
    flowAt: number;
    comments: boolean;
  }
  const quoteScalar = (s: string, style: Style, i: number): string => {
    const q = style.quote === 'mixed' ? (['plain', 'single', 'double'] as const)[i % 3] : style.quote;
    if (q === 'single') return `'${s.replaceAll("'", "''")}'`;
    if (q === 'double') return `"${s}"`;
    return s;
  };
  /** A node in flow style. */
  const flow = (n: Node, style: Style, i: number): string => {
    if ('s' in n) return quoteScalar(n.s, style, i);
    if ('list' in n) return `[${n.list.map((c, j) => flow(c, style, i + j)).join(', ')}]`;
    return `{${n.map.map(([k, v], j) => `${k}: ${flow(v, style, i + j)}`).join(', ')}}`;
  };
  /** A node in block style (flow below `flowAt` levels), as lines at `indent`. */
  const block = (n: Node, style: Style, indent: number, depth: number): string[] => {
    const pad = ' '.repeat(indent);
    const comment = style.comments ? '  # note' : '';
    if ('s' in n || depth >= style.flowAt || ('list' in n && n.list.length === 0) || ('map' in n && n.map.length === 0)) return [`${pad}${flow(n, style, depth)}${comment}`];
    const lines: string[] = [];
    if ('list' in n) {
      for (const [j, c] of n.list.entries()) {
        const inner = block(c, style, indent + style.indent, depth + 1);
        const first = inner[0] ?? '';
        lines.push(`${pad}-${' '.repeat(style.indent - 1)}${first.trimStart()}`, ...inner.slice(1));
        if (style.comments && j === 0) lines.push(`${pad}# between`);
      }
      return lines;
    }
    for (const [k, v] of n.map) {
      const inline = 's' in v || depth + 1 >= style.flowAt || ('list' in v && v.list.length === 0) || ('map' in v && v.map.length === 0);
      if (inline) lines.push(`${pad}${k}: ${flow(v, style, depth)}${comment}`);
      else lines.push(`${pad}${k}:${comment}`, ...block(v, style, 'list' in v && style.compact ? indent : indent + style.indent, depth + 1));
    }
    return lines;
  };
  const style = fc.record({ indent: fc.integer({ min: 2, max: 4 }), compact: fc.boolean(), quote: fc.constantFrom('plain', 'single', 'double', 'mixed'), flowAt: fc.integer({ min: 1, max: 5 }), comments: fc.boolean() });
  const documentArb = fc
    .tuple(fc.array(fc.tuple(keyName, node), { minLength: 1, maxLength: 3 }), style, fc.constantFrom('\n', '\n', '\r\n'))
    .map(([map, st, eol]) => block({ map }, st, 0, 0).join(eol) + eol);
  const EDITS = [' ', '  ', '\n', '#', ':', ': ', '-', '- ', ',', '[', ']', '{', '}', "'", '"', '\\', '&', '*', '!', '|', '>', '?', '%', '@', '\t', '\r', '---\n', '...\n', 'é', '~'];
  const mutated = fc.tuple(documentArb, fc.array(fc.tuple(fc.nat(), fc.nat({ max: 2 }), fc.constantFrom(...EDITS)), { minLength: 1, maxLength: 3 })).map(([text, edits]) => {
    let t = text;
    for (const [at, kind, s] of edits) {
      const i = at % (t.length + 1);
      t = kind === 0 ? t.slice(0, i) + s + t.slice(i) : kind === 1 ? t.slice(0, i) + t.slice(i + 1) : t.slice(0, i) + s + t.slice(i + 1);
    }
    return t;
  });

  it('reads generated documents as the YAML package does, or declines them', () => {
    let accepted = 0;
    let runs = 0;
    fc.assert(
      fc.property(documentArb, (text) => {
        runs++;
        if (agrees(text)) accepted++;
      }),
      { numRuns: 3000 },
    );
    // The generator reaches the subset often (not only its declines).
    expect(accepted).toBeGreaterThan(runs / 5);
  });

  it('reads generated documents with YAML-significant characters inserted, removed or replaced as the YAML package does, or declines them', () => {
    let accepted = 0;
    fc.assert(
      fc.property(mutated, (text) => {
        if (agrees(text)) accepted++;
      }),
      { numRuns: 4000 },
    );
    expect(accepted).toBeGreaterThan(100);
  });
});
