/**
 * dist/THIRD-PARTY-NOTICES (scripts/third-party-notices.mjs, written by scripts/build.mjs): the
 * licence texts and notices of the packages the bundles carry, which the licences of most of them
 * ask to travel with every copy (the container image copies dist/ whole). The list is exactly the
 * packages of which esbuild bundled a file: both bundles are built here as scripts/build.mjs builds
 * them, into memory, and every package of their metafiles must be listed with its version, licence
 * and text. A licence not on the allowed list (a GPL, none declared) fails the build.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createRequire } from 'node:module';
import type { Metafile } from 'esbuild';
import { bundledPackages, licenceAllowed, PORTED, thirdPartyNotices } from '../../scripts/third-party-notices.mjs';
import { REPO_ROOT } from '../helpers/fixtures.js';
import { bundleMetafile } from '../helpers/bundle-metafile.js';

const project = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { name: string; version: string; license: string };


let bundles: Record<string, Metafile> = {};
let notices = '';
let scratch = '';

beforeAll(async () => {
  const yamlEsm = join(dirname(createRequire(join(REPO_ROOT, 'package.json')).resolve('yaml/package.json')), 'browser', 'index.js');
  const [handler, cli] = await Promise.all([bundleMetafile('src/lambda/main.ts', { alias: { yaml: yamlEsm } }), bundleMetafile('src/cli/bin.ts', { external: ['@kubernetes/client-node'] })]);
  bundles = { handler, cli };
  notices = thirdPartyNotices(bundles, { root: REPO_ROOT, project });
  scratch = mkdtempSync(join(tmpdir(), 'third-party-notices-'));
}, 60_000);
afterAll(() => {
  rmSync(scratch, { recursive: true, force: true });
});

describe('THIRD-PARTY-NOTICES', () => {
  it('lists every package of which a file is bundled, with its version, licence and licence text', () => {
    const packages = [...bundledPackages(bundles, REPO_ROOT).keys()].map((dir) => JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name: string; version: string; license: string });
    expect(packages.map((p) => p.name)).toEqual(expect.arrayContaining(['@aws-sdk/client-ssm', '@smithy/core', 'yaml', 'zod', 'prom-client']));
    // What stays in node_modules (the Kubernetes client, loaded with import()) is not shipped in dist/.
    expect(packages.map((p) => p.name)).not.toContain('@kubernetes/client-node');
    for (const p of packages) {
      const escaped = p.name.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
      expect({ name: p.name, row: new RegExp(`^${escaped} +${p.version.replace(/\./g, '\\.')} +${p.license} +(cli|handler)`, 'm').test(notices) }).toEqual({ name: p.name, row: true });
      // Its section: the licence text (or where the same text is), right under its header.
      const section = notices.split(`\n${p.name} ${p.version} (${p.license})\n\n`)[1]?.split(`\n${'-'.repeat(100)}\n`)[0] ?? '';
      expect({ name: p.name, text: /^(LICEN[CS]E[^\n]*:|COPYING[^\n]*:|The package ships no licence file)/i.test(section) }).toEqual({ name: p.name, text: true });
    }
    expect(notices).toContain('Apache License');
    expect(notices).toContain('Permission is hereby granted');
  });

  it('no bundled package has a licence off the allowed list (no GPL, no AGPL, none undeclared)', () => {
    const licences = notices.split(`\n${'-'.repeat(100)}\n`).slice(1).map((s) => /^\S+ \S+ \(([^)]*)\)(, in \S+)?$/m.exec(s)?.[1] ?? '');
    expect(licences.length).toBeGreaterThan(10);
    expect(licences.filter((l) => !licenceAllowed(l) || l.includes('GPL'))).toEqual([]);
  });

  it('credits the code ported into src/, under its licence, each file saying so in its header', () => {
    expect(PORTED.length).toBeGreaterThan(0);
    for (const p of PORTED) {
      expect(notices).toContain(`\n${p.name} ${p.version} (${p.licence}), in ${p.files.join(', ')}\n\n${p.notice}\n\nLicensed under ${p.licence}, whose text is given under `);
      for (const file of p.files) {
        const header = readFileSync(join(REPO_ROOT, file), 'utf8').split('*/')[0] ?? '';
        expect({ file, names: header.replace(/\s+/g, ' ').includes(`${p.name.split('/').slice(-1)[0] ?? ''} ${p.version}`), licence: header.includes('Apache License 2.0') }).toEqual({ file, names: true, licence: true });
      }
    }
  });

  it('is what npm run build wrote in dist/', () => {
    expect(readFileSync(join(REPO_ROOT, 'dist', 'THIRD-PARTY-NOTICES'), 'utf8')).toBe(notices);
  });

  it('is the file sam build copies into both functions (src/lambda/THIRD-PARTY-NOTICES.txt, current)', () => {
    // template.yaml's esbuild entries copy it: SAM builds from src/, not from dist/. After a
    // dependency change: npm run build && cp dist/THIRD-PARTY-NOTICES src/lambda/THIRD-PARTY-NOTICES.txt
    expect(readFileSync(join(REPO_ROOT, 'src', 'lambda', 'THIRD-PARTY-NOTICES.txt'), 'utf8')).toBe(notices);
    const template = readFileSync(join(REPO_ROOT, 'template.yaml'), 'utf8');
    expect(template.match(/EntryPoints: \[src\/lambda\/[\w-]+\.ts, src\/lambda\/THIRD-PARTY-NOTICES\.txt\]\n\s+Loader: \['\.txt=copy'\]/g)).toHaveLength(2);
  });

  it('names the project and its own licence, as package.json and LICENSE give them', () => {
    expect(notices.split('\n')[0]).toBe(`Third-party software in ${project.name} ${project.version}`);
    expect(notices).toContain(`licensed under ${project.license} (LICENSE)`);
    expect(project.license).toBe('MIT-0');
    expect(readFileSync(join(REPO_ROOT, 'LICENSE'), 'utf8').split('\n')[0]).toBe('MIT No Attribution');
  });
});

describe('the licence policy', () => {
  it.each([
    ['a permissive licence', 'MIT', true],
    ['an OR with one allowed', '(MIT OR GPL-3.0-only)', true],
    ['an AND with one not allowed', 'MIT AND GPL-3.0-only', false],
    ['a lower-case and with one not allowed', 'MIT and GPL-3.0-only', false],
    ['a lower-case and, both allowed', '(MIT and ISC)', true],
    ['a lower-case or with one allowed', 'GPL-3.0-only or MIT', true],
    ['a GPL', 'GPL-3.0-only', false],
    ['an AGPL', 'AGPL-3.0-or-later', false],
    ['an LGPL', 'LGPL-2.1-only', false],
    ['a custom licence', 'SEE LICENSE IN LICENSE.md', false],
    ['none', '', false],
    ['operators alone', 'AND', false],
    ['not a string', undefined, false],
  ])('%s (%s): allowed %s', (_, expression, allowed) => {
    expect(licenceAllowed(expression)).toBe(allowed);
  });

  /** A fake bundle of packages in a node_modules of its own, each `[name, package.json fields, files]`. */
  function fake(packages: [string, Record<string, unknown>, Record<string, string>][]): Record<string, Metafile> {
    const root = mkdtempSync(join(scratch, 'root-'));
    const inputs: Metafile['inputs'] = {};
    for (const [name, fields, files] of packages) {
      const dir = join(root, 'node_modules', name);
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, 'package.json'), JSON.stringify({ name, version: '1.0.0', ...fields }));
      for (const [file, text] of Object.entries(files)) writeFileSync(join(dir, file), text);
      inputs[`node_modules/${name}/index.js`] = { bytes: 1, imports: [] };
    }
    return { [root]: { inputs, outputs: {} } };
  }
  const notice = (bundles: Record<string, Metafile>): string => thirdPartyNotices(bundles, { root: Object.keys(bundles)[0] ?? '', project });

  it('refuses a bundled package under a GPL, or declaring no licence, naming it', () => {
    expect(() => notice(fake([['ok', { license: 'MIT' }, { LICENSE: 'MIT text' }], ['copyleft', { license: 'GPL-3.0-only' }, { COPYING: 'GPL' }]]))).toThrow('copyleft@1.0.0 (GPL-3.0-only)');
    expect(() => notice(fake([['bare', {}, { LICENSE: 'text' }]]))).toThrow('bare@1.0.0 (none declared)');
  });

  it('carries a NOTICE file, and refers a package without a licence file to the text of its licence', () => {
    const text = notice(fake([['a', { license: 'Apache-2.0' }, { 'LICENSE.txt': 'Apache text', NOTICE: 'Copyright A' }], ['b', { license: 'Apache-2.0' }, {}]]));
    expect(text).toContain('LICENSE.txt:\n\nApache text\n');
    expect(text).toContain('NOTICE:\n\nCopyright A\n');
    expect(text).toContain('b 1.0.0 (Apache-2.0)\n\nThe package ships no licence file; its package.json declares Apache-2.0, whose text is given under a 1.0.0.');
  });

  it('lists a package once when the bundles reach it by two paths (a symlinked node_modules and its target)', () => {
    const bundles = fake([['twice', { license: 'MIT' }, { LICENSE: 'MIT text' }]]);
    const root = Object.keys(bundles)[0] ?? '';
    mkdirSync(join(root, 'linked'));
    symlinkSync(join(root, 'node_modules'), join(root, 'linked', 'node_modules'));
    const text = notice({ ...bundles, cli: { inputs: { 'linked/node_modules/twice/index.js': { bytes: 1, imports: [] } }, outputs: {} } });
    expect(text.split('\ntwice 1.0.0 (MIT)\n').length).toBe(2);
    expect(text).toMatch(/^twice +1\.0\.0 +MIT +\/\S+, cli$/m);
  });

  it('reads a licence however the package declares and spells it: LICENCE, NOTICE.md, CRLF lines, the old licenses list and license object; two versions in order', () => {
    const bundles = fake([
      ['old-list', { licenses: [{ type: 'MIT' }, { type: 'Apache-2.0' }] }, { LICENCE: 'Licence text\r\nsecond line\r\n\r\n' }],
      ['old-object', { license: { type: 'ISC' } }, { 'COPYING.md': 'ISC text', 'NOTICE.md': 'Copyright B' }],
    ]);
    const root = Object.keys(bundles)[0] ?? '';
    // A second version of old-object, nested under old-list (credited to itself, not to old-list).
    const nested = join(root, 'node_modules', 'old-list', 'node_modules', 'old-object');
    mkdirSync(nested, { recursive: true });
    writeFileSync(join(nested, 'package.json'), JSON.stringify({ name: 'old-object', version: '0.9.0', license: 'ISC' }));
    writeFileSync(join(nested, 'LICENSE'), 'ISC text, older');
    // A REUSE folder of licence texts is not a licence file (it is no file at all).
    mkdirSync(join(root, 'node_modules', 'old-list', 'LICENSES'));
    const inputs = { ...bundles[root]?.inputs, 'node_modules/old-list/node_modules/old-object/index.js': { bytes: 1, imports: [] } };
    const text = notice({ [root]: { inputs, outputs: {} } });
    expect(text).toContain('\nold-list 1.0.0 (MIT OR Apache-2.0)\n\nLICENCE:\n\nLicence text\nsecond line\n\n\n---');
    expect(text).toContain('\nold-object 1.0.0 (ISC)\n\nCOPYING.md:\n\nISC text\n\nNOTICE.md:\n\nCopyright B\n');
    expect(text.indexOf('\nold-object 0.9.0 (ISC)\n\nLICENSE:\n\nISC text, older\n')).toBeGreaterThan(text.indexOf('\nold-list 1.0.0 ('));
    expect(text.indexOf('\nold-object 0.9.0 (ISC)')).toBeLessThan(text.indexOf('\nold-object 1.0.0 (ISC)'));
    expect(text).not.toContain('Code ported');
  });

  it('refuses code ported into src/ when no bundled package carries the text of its licence', () => {
    const bundles = fake([['mit-only', { license: 'MIT' }, { LICENSE: 'MIT text' }]]);
    const root = Object.keys(bundles)[0] ?? '';
    const inputs = { ...bundles[root]?.inputs, 'src/core/reference.ts': { bytes: 1, imports: [] } };
    expect(() => notice({ [root]: { inputs, outputs: {} } })).toThrow('ported code without a licence text: github.com/distribution/reference (Apache-2.0)');
  });

  it('credits ported code after a blank line, and aligns the table under its header, however short the names', () => {
    const bundles = fake([['a', { license: 'Apache-2.0' }, { LICENSE: 'Apache text' }], ['b', { license: 'Apache-2.0' }, {}]]);
    const root = Object.keys(bundles)[0] ?? '';
    const text = notice({ [root]: { inputs: { ...bundles[root]?.inputs, 'src/core/reference.ts': { bytes: 1, imports: [] } }, outputs: {} } });
    expect(text).toContain('\npackage  version      licence        in\na        1.0.0        Apache-2.0     ');
    expect(text).toContain('whose text is given under a 1.0.0.\n\n' + '='.repeat(100) + "\nCode ported into image-rewriter's own sources\n");
  });

  it('refuses a package without a licence text when no other bundled package has one of its licence', () => {
    expect(() => notice(fake([['lonely', { license: 'ISC' }, {}]]))).toThrow('without a licence text: lonely@1.0.0 (ISC)');
  });
});
