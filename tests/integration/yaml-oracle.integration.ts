/**
 * Differential test of src/manifests/aliasing.ts against the Go code it ports: kubectl reads each
 * document with sigs.k8s.io/yaml (go-yaml v2), which refuses alias bombs by its own count of the
 * nodes decoded and of those that came from aliases; `render` and `audit -f` must refuse exactly the
 * documents kubectl refuses and read every other. Through hack/yaml-oracle (built from the Go module
 * proxy by hack/yaml-oracle/build.sh), on documents made to sit on each side of go-yaml's limits:
 * one anchor used N times around the 99% share (with other nodes before it), the 1,000-node and
 * 100-alias floors, the falling share between 400,000 and 4,000,000 nodes, merge keys (not decoded
 * themselves, a sequence of them decoded item by item), nested bombs, anchors that contain their own
 * alias, and a seeded random mix of all of them.
 */
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from '@jest/globals';
import { parseTokens } from '../../src/config/yaml-read.js';
import { aliasingProblem } from '../../src/manifests/aliasing.js';
import { composeOne, RenderError, toJson } from '../../src/manifests/documents.js';
import { yamlOracleBinary } from './helpers/tools.js';

interface Verdict {
  readonly ok: boolean;
  readonly json?: string;
  readonly error?: string;
}

/** A document: `filler` scalars, then an anchor of `size` nodes, then `uses` aliases of it. */
function oneAnchor(size: number, uses: number, filler: number, how: 'alias' | 'merge' | 'merge-list' = 'alias'): string {
  const lines = ['filler:', ...Array.from({ length: filler }, (_, i) => `- f${i}`)];
  if (how === 'alias') lines.push(`a: &a [${Array.from({ length: size - 1 }, () => 'x').join(', ')}]`);
  else lines.push(`a: &a {${Array.from({ length: (size - 1) / 2 }, (_, i) => `k${i}: x`).join(', ')}}`, 'b: &b {z: 1}');
  const use = how === 'alias' ? '- *a' : how === 'merge' ? '- {<<: *a}' : '- {<<: [*a, *b]}';
  lines.push('uses:', ...Array.from({ length: uses }, () => use));
  return `${lines.join('\n')}\n`;
}

/** `width` aliases of the level below, `depth` levels: the billion laughs. */
function bomb(width: number, depth: number): string {
  const lines = [`l0: &l0 [${Array.from({ length: width }, () => 'x').join(', ')}]`];
  for (let j = 1; j < depth; j++) lines.push(`l${j}: &l${j} [${Array.from({ length: width }, () => `*l${j - 1}`).join(', ')}]`);
  return `${lines.join('\n')}\n`;
}

/** A seeded mix: anchored lists that alias earlier anchors, aliases, merges, empty values, long lists. */
function randomDocument(seed: number): string {
  let state = seed;
  const random = (): number => {
    state = (state * 1103515245 + 12345) % 2147483648;
    return state / 2147483648;
  };
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)] as T;
  const anchors: string[] = [];
  const maps: string[] = [];
  const lines: string[] = [];
  const count = 5 + Math.floor(random() * 60);
  for (let j = 0; j < count; j++) {
    const r = random();
    if (anchors.length > 0 && r < 0.4) lines.push(`k${j}: *${pick(anchors)}`);
    else if (maps.length > 0 && r < 0.5) lines.push(`k${j}: {<<: ${random() < 0.5 ? `*${pick(maps)}` : `[*${pick(maps)}, *${pick(maps)}]`}, own: ${j}}`);
    else if (r < 0.65) {
      const items = Array.from({ length: 1 + Math.floor(random() * 30) }, () => (anchors.length > 0 && random() < 0.3 ? `*${pick(anchors)}` : 's'));
      lines.push(`k${j}: &a${j} [${items.join(', ')}]`);
      anchors.push(`a${j}`);
    } else if (r < 0.72) {
      lines.push(`k${j}: &m${j} {p: ${j}, q: [${Array.from({ length: Math.floor(random() * 40) }, () => 'v').join(', ')}]}`);
      maps.push(`m${j}`);
    } else if (r < 0.8) lines.push(`k${j}:`);
    else lines.push(`k${j}: [${Array.from({ length: 1 + Math.floor(random() * 400) }, () => 'v').join(', ')}]`);
  }
  return `${lines.join('\n')}\n`;
}

function corpus(): { readonly name: string; readonly text: string }[] {
  const cases: { name: string; text: string }[] = [];
  for (const filler of [0, 10, 100, 400]) {
    const edge = Math.floor(151 + 0.49 * filler);
    for (let uses = edge - 6; uses <= edge + 6; uses++) cases.push({ name: `share 99%: 300 nodes x ${uses}, ${filler} before`, text: oneAnchor(300, uses, filler) });
  }
  for (const filler of [0, 100]) {
    for (let uses = 200; uses <= 520; uses += 8) {
      cases.push({ name: `merge: 301 nodes x ${uses}, ${filler} before`, text: oneAnchor(301, uses, filler, 'merge') });
      cases.push({ name: `merge list: 301 nodes x ${uses}, ${filler} before`, text: oneAnchor(301, uses, filler, 'merge-list') });
    }
  }
  // A few aliases of a large anchor: the 100-alias and 1,000-node floors.
  for (const size of [90, 101, 102, 500, 999, 1001]) cases.push({ name: `floors: ${size} nodes x 1`, text: oneAnchor(size, 1, 0) }, { name: `floors: ${size} nodes x 2`, text: oneAnchor(size, 2, 0) });
  // Between 400,000 and 4,000,000 nodes decoded the share allowed falls from 99% to 10%.
  for (let uses = 200; uses <= 1400; uses += 200) cases.push({ name: `falling share: 1001 nodes x ${uses}, 150000 before`, text: oneAnchor(1001, uses, 150_000) });
  for (const width of [2, 3, 5, 9]) for (const depth of [2, 3, 4, 5, 6, 8]) cases.push({ name: `bomb ${width}^${depth}`, text: bomb(width, depth) });
  for (const text of ['x: &x {a: *x}\n', 'x: &x [1, *x]\n', 'x: &x {<<: *x}\n', 'x: &x {a: {b: [c, *x]}}\n', 'x: &x {a: 1}\ny: &y {b: *x, c: *y}\n', 'x: &x {a: 1}\ny: {b: *x, c: *x}\n']) {
    cases.push({ name: `self: ${JSON.stringify(text)}`, text });
  }
  for (let seed = 1; seed <= 150; seed++) cases.push({ name: `random ${seed}`, text: randomDocument(seed) });
  return cases;
}

/** Ours, in the oracle's words: ok, or go-yaml's message for the same refusal. */
function ours(text: string): Verdict {
  const doc = composeOne([...parseTokens(text)]);
  if (doc === undefined) return { ok: false, error: 'no document' };
  const problem = aliasingProblem(doc);
  if (problem === undefined) return { ok: true };
  return { ok: false, error: problem.message.startsWith('excessive aliasing') ? 'yaml: document contains excessive aliasing' : `yaml: ${problem.message}` };
}

describe('src/manifests/aliasing.ts against kubectl (sigs.k8s.io/yaml)', () => {
  const oracle = yamlOracleBinary();
  const cases = corpus();
  const run = spawnSync(oracle, [], { input: JSON.stringify(cases.map((c) => c.text)), encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  const go = run.status === 0 ? (JSON.parse(run.stdout) as Verdict[]) : [];

  it('the oracle answers every document', () => {
    expect(run.stderr).toBe('');
    expect(go).toHaveLength(cases.length);
  });

  it('refuses exactly what kubectl refuses, for the same reason, and reads every other document', () => {
    const differences = cases.flatMap((c, i) => {
      const theirs = go[i];
      const mine = ours(c.text);
      return theirs?.ok === mine.ok && theirs.error === mine.error ? [] : [`${c.name}: kubectl ${JSON.stringify(theirs)}, ours ${JSON.stringify(mine)}`];
    });
    expect(differences).toEqual([]);
    // The corpus sits on both sides of each limit: both verdicts in every family.
    const verdicts = (prefix: string): string[] => [...new Set(cases.flatMap((c, i) => (c.name.startsWith(prefix) ? [go[i]?.error ?? 'ok'] : [])))].sort();
    expect(verdicts('share 99%')).toEqual(['ok', 'yaml: document contains excessive aliasing']);
    expect(verdicts('merge:')).toEqual(['ok', 'yaml: document contains excessive aliasing']);
    expect(verdicts('falling share')).toEqual(['ok', 'yaml: document contains excessive aliasing']);
    expect(verdicts('bomb')).toEqual(['ok', 'yaml: document contains excessive aliasing']);
    expect(verdicts('self')).toEqual(['ok', "yaml: anchor 'x' value contains itself", "yaml: anchor 'y' value contains itself"]);
  }, 120_000);
});

/**
 * Plain and quoted scalars as values, in lists and as keys: render and audit -f read each as kubectl
 * does (src/config/yaml-kubectl.ts: YAML 1.1 booleans, octal, binary and underscored numbers), or
 * refuse the document where kubectl refuses it. A value that is not the image's string type is what
 * render refuses an `image:` for ("quote such an image"), so a difference here would be a document
 * that render rewrites and kubectl applies differently.
 *
 * Left out, where render and audit differ from kubectl on purpose or on nothing they read: explicit
 * tags (`!!binary` and `!!timestamp` images are refused with their own message, README), keys that
 * kubectl refuses (null, a map, an integer over 2^63), writes in its own float format (`.inf`,
 * `6.8523015e+5`: Go's 32-bit formatting) or keeps to more digits than a JavaScript number holds
 * (integers over 2^53; as values the API server reads them as JSON numbers all the same), and `.inf`/`.nan` values, which kubectl cannot send as
 * JSON (render leaves those fields alone; as an image they are refused by both).
 */
const SCALARS = [
  ...['y', 'Y', 'yes', 'Yes', 'YES', 'n', 'N', 'no', 'No', 'NO', 'on', 'On', 'ON', 'off', 'Off', 'OFF', 'true', 'True', 'TRUE', 'false', 'False', 'FALSE', 'yEs', 'tRUE'],
  ...['nULL', 'none', 'None'],
  ...['0', '-0', '+1', '-1', '010', '0o10', '0O10', '08', '0x1F', '0X1f', '0x', '0b101', '0B101', '0b2', '1_000', '_1', '1_', '0_7', '+0x1F', '-0b11', '9007199254740991', '-9007199254740991', '1,000'],
  ...['1.0', '1.', '.5', '-.5', '1e3', '1E3', '1.5e-3', '1.0.1', '0.0.1', '1e', 'e1', 'inf', '.infinity', 'NaN'],
  ...['190:20:30', '1:20', '10:00', '0:1', '1:0', '190:20:30.15', '2001-12-14', '2001-12-14t21:59:43.10-05:00', '2001-12-14 21:59:43.10 -5', '2002-12-14T01:02:03Z'],
  ...["'yes'", '"on"', "'1.0'", '"0x1F"', "''", '""', "'~'", '"null"'],
  ...['nginx:1.0', 'gcr.io/a:1', 'a:1', '1:a', '-a', '@a', '`a', '%a', 'a #b', 'a#b', 'registry:5000/x@sha256:0123'],
];

/** Each scalar as a value, as a list item and as a key. */
const scalarDocuments = (): string[] => SCALARS.flatMap((v) => [`v: ${v}\n`, `v: [${v}]\n`, `${v}: v\n`, `v:\n- ${v}\n`]);

/** Ours: the JSON render and audit -f read, or why they refuse the document. */
function oursAsJson(text: string): { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly error: string } {
  try {
    const doc = composeOne([...parseTokens(text)]);
    if (doc === undefined) return { ok: false, error: 'no document' };
    return { ok: true, value: JSON.parse(JSON.stringify(toJson(doc) ?? null)) as unknown };
  } catch (e) {
    if (e instanceof RenderError) return { ok: false, error: e.message };
    throw e;
  }
}

describe('src/config/yaml-kubectl.ts and render\'s reading against kubectl (sigs.k8s.io/yaml)', () => {
  const oracle = yamlOracleBinary();
  const documents = scalarDocuments();
  const run = spawnSync(oracle, ['json'], { input: JSON.stringify(documents), encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  const go = run.status === 0 ? (JSON.parse(run.stdout) as Verdict[]) : [];

  it('reads every scalar to the value kubectl sends, and refuses what kubectl refuses', () => {
    expect(go).toHaveLength(documents.length);
    const differences = documents.flatMap((text, i) => {
      const theirs = go[i];
      const mine = oursAsJson(text);
      if (theirs === undefined) return [`${JSON.stringify(text)}: no answer`];
      if (!theirs.ok || !mine.ok) return theirs.ok === mine.ok ? [] : [`${JSON.stringify(text)}: kubectl ${theirs.ok ? theirs.json : theirs.error}, ours ${mine.ok ? JSON.stringify(mine.value) : mine.error}`];
      const expected = JSON.parse(theirs.json ?? 'null') as unknown;
      return JSON.stringify(expected) === JSON.stringify(mine.value) ? [] : [`${JSON.stringify(text)}: kubectl ${JSON.stringify(expected)}, ours ${JSON.stringify(mine.value)}`];
    });
    expect(differences).toEqual([]);
  });
});
