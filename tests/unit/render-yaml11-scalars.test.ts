/**
 * Plain scalars that kubectl (sigs.k8s.io/yaml: go-yaml v2, YAML 1.1) reads as booleans or numbers
 * and YAML 1.2 as strings: `yes`, `no`, `on`, `off`, `y`, `n`, and numbers with `_` or a `0b` prefix
 * (`1_000`, `0b101`). `image: yes` is `"image": true` to kubectl, which the API server refuses; render
 * read it as the image `yes` (docker.io/library/yes) and wrote a mirror's image there, turning a
 * manifest the API server refuses into one it admits, with an image nobody wrote. They are read as
 * kubectl reads them (src/config/yaml-kubectl.ts): such an image is not a string, so render stops
 * (exit 2), and `audit -f` does not list it; quoted, they are strings, as to kubectl.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import { parseDocument } from 'yaml';
import { KUBECTL_SCALARS } from '../../src/config/yaml-kubectl.js';
import { FIXTURES } from '../helpers/fixtures.js';
import { runCli } from '../helpers/io.js';

const RULES = join(FIXTURES, 'render', 'rules.yaml');
const dir = mkdtempSync(join(tmpdir(), 'image-rewriter-yaml11-scalars-'));
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

const pod = (image: string): string => `apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\nspec:\n  containers:\n  - name: a\n    image: ${image}\n  - name: b\n    image: gcr.io/app:1\n`;

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

/**
 * What kubectl 1.37.2 made of `image: TEXT` (`kubectl create -f pod.yaml --dry-run=client -o json`),
 * measured: undefined where it kept the text as a string (the octal past uint64 measured with
 * sigs.k8s.io/yaml's YAMLToJSON, hack/yaml-oracle).
 */
const KUBECTL: readonly (readonly [string, boolean | number | undefined])[] = [
  ['yes', true], ['Yes', true], ['YES', true], ['y', true], ['Y', true], ['on', true], ['On', true], ['ON', true],
  ['no', false], ['No', false], ['NO', false], ['n', false], ['N', false], ['off', false], ['Off', false], ['OFF', false],
  ['true', true], ['True', true], ['TRUE', true],
  ['1_000', 1000], ['1__0', 10], ['1_', 1], ['-_1', -1], ['0b101', 5], ['0B101', 5], ['-0b1', -1], ['+0b1', 1], ['0b_1', 1], ['0_b1', 1],
  ['1_0.5', 10.5], ['1_0e5', 1000000], ['1.5_', 1.5], ['0x_1f', 31], ['0X1F', 31], ['0x1f', 31], ['0o17', 15], ['017', 15], ['08', 8], ['-1', -1], ['+1', 1], ['1e5', 100000], ['.5', 0.5],
  ['0xffffffffffffffffffff', undefined], ['0o7777777777777777777777777', undefined], ['0xFFFFFFFFFFFFFFFF', 2 ** 64], ['9223372036854775808', 9223372036854775808], ['0777777777777777777777777', Number('777777777777777777777777')],
  ['1:20', undefined], ['2001-12-14', undefined], ['0b2', undefined], ['0o8', undefined], ['_1', undefined], ['1_a', undefined], ['1.2.3', undefined],
  ['1_000:v1', undefined], ['y:1', undefined], ['on:2', undefined], ['a.inf', undefined], ['yes-no', undefined], ['nginx', undefined],
];

describe('KUBECTL_SCALARS: a plain scalar as kubectl reads it', () => {
  const read = (text: string): unknown => parseDocument(text, { customTags: KUBECTL_SCALARS }).toJS();

  it.each(KUBECTL)('%s', (text, expected) => {
    expect(read(`image: ${text}`)).toEqual({ image: expected ?? text });
  });

  it('the tags make the yaml package read plain scalars so, and leave quoted and !!str ones strings', () => {
    expect(read('[yes, no, on, off, y, n, 1_000, 0b101, 1:20, nginx]')).toEqual([true, false, true, false, true, false, 1000, 5, '1:20', 'nginx']);
    expect(read(`["yes", 'no', !!str on, !!bool off]`)).toEqual(['yes', 'no', 'on', false]);
  });
});

describe('render and audit -f read unquoted YAML 1.1 booleans and numbers as kubectl does', () => {
  it.each([
    ['yes', 'a boolean'],
    ['no', 'a boolean'],
    ['on', 'a boolean'],
    ['off', 'a boolean'],
    ['y', 'a boolean'],
    ['n', 'a boolean'],
    ['1_000', 'a number'],
    ['0b101', 'a number'],
    ['1_0.5', 'a number'],
    // Explicit tags: named by what they make, not as "an object" (kubectl reads !!binary as the
    // text it encodes, gcr.io/app:1 here; the message says to write that).
    ['!!binary Z2NyLmlvL2FwcDox', 'binary data (YAML !!binary: write the image as text)'],
    ['!!timestamp 2001-12-14', 'a timestamp (YAML !!timestamp)'],
    ['!!set {a}', 'a set (YAML !!set)'],
    ['!!omap [a: 1]', 'a map (YAML !!omap)'],
  ])('image: %s is %s to kubectl: render stops (exit 2, nothing written), audit -f lists the other image and names this one (exit 2)', async (image, what) => {
    const path = file(`${image}.yaml`, pod(image));
    for (const command of [['render'], ['render', '--check']]) {
      const r = await runCli([...command, '--config', RULES, '-f', path]);
      expect(r.code).toBe(2);
      expect(r.out).toBe('');
      expect(r.err).toContain(`Pod web: /spec/containers/0/image is ${what}, not a string`);
    }
    // An image audit cannot read is never passed over (it was exit 1 with only the other image):
    // the audit is incomplete, exit 2, as render's.
    const a = await runCli(['audit', '--config', RULES, '-f', path, '-o', 'json']);
    expect(a.code).toBe(2);
    expect(a.out).toBe('{"namespace":"","kind":"Pod","name":"web","container":"b","image":"gcr.io/app:1","rewritten":"asia.gcr.io/app:1","rule":"gcr-asia"}\n');
    expect(a.err).toContain(`error: ${path}: Pod web: /spec/containers/0/image is ${what}, not a string`);
  });

  it.each([['"yes"'], ["'no'"], ['!!str on']])('image: %s, a string to kubectl too, is rewritten', async (image) => {
    const r = await runCli(['render', '--config', RULES, '-f', file('quoted.yaml', pod(image))]);
    expect(r.code).toBe(0);
    expect(r.out).toContain(`image: ${image.replace(/(yes|no|on)/, '123456789012.dkr.ecr.us-west-2.amazonaws.com/dockerhub/$1')}\n`);
    expect(r.out).toContain('image: asia.gcr.io/app:1\n');
  });

  it.each([['1:20'], ['2001-12-14'], ['0b2'], ['1_a'], ['0xffffffffffffffffffff']])('image: %s, a string to kubectl, is rewritten as before', async (image) => {
    const r = await runCli(['render', '--config', RULES, '-f', file('string.yaml', pod(image))]);
    expect(r.code).toBe(0);
    expect(r.out).toContain(`image: 123456789012.dkr.ecr.us-west-2.amazonaws.com/dockerhub/${image}\n`);
  });
});
