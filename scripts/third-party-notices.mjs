// The THIRD-PARTY-NOTICES file scripts/build.mjs writes beside the bundles
// (docs/design.md, "What we ship"). The bundles carry the code of the packages esbuild bundled,
// with their comments dropped (legalComments: 'none'), and the licences of most of them (MIT, ISC,
// BSD, Apache-2.0's section 4) ask that their text, and a NOTICE file when there is one, travel
// with every copy. The list is taken from esbuild's metafiles, so it holds exactly the packages of
// which a file is in a bundle (not what package.json or package-lock.json name), each with its
// version, the licence its package.json declares, and its LICENSE/COPYING and NOTICE files. A
// licence outside ALLOWED (a GPL, an AGPL, none declared) fails the build: someone must decide it.
import { readdirSync, readFileSync, realpathSync } from 'node:fs';
import { join } from 'node:path';

/** SPDX identifiers whose code may be bundled and shipped with its notices. */
export const ALLOWED = ['0BSD', 'Apache-2.0', 'BlueOak-1.0.0', 'BSD-2-Clause', 'BSD-3-Clause', 'CC0-1.0', 'ISC', 'MIT', 'MIT-0', 'Python-2.0', 'Unlicense', 'Zlib'];

/**
 * Third-party code ported by hand into our own sources (each file says so in its header): listed
 * when a bundle holds one of its files, with the copyright lines of its sources, under its licence.
 */
export const PORTED = [
  { name: 'github.com/distribution/reference', version: 'v0.6.0', licence: 'Apache-2.0', files: ['src/core/reference.ts'], notice: 'The reference grammar (regexp.go) and its parsing and normalization (reference.go, normalize.go), ported to TypeScript.' },
  { name: 'github.com/opencontainers/go-digest', version: 'v1.0.0', licence: 'Apache-2.0', files: ['src/core/reference.ts'], notice: 'Copyright 2019, 2020 OCI Contributors\nCopyright 2017 Docker, Inc.\n\nThe digest validation (Digest.Validate, the registered algorithms), ported to TypeScript.' },
];

const LICENSE_FILE = /^(licen[cs]e|copying)([.-].*)?$/i;
const NOTICE_FILE = /^notice([.-].*)?$/i;

/**
 * Whether an SPDX expression is allowed: every identifier of an AND, one of an OR. The operators in
 * either case (package.json files write `MIT and GPL-3.0-only` too, which is no OR).
 */
export function licenceAllowed(expression) {
  if (typeof expression !== 'string') return false;
  const ids = expression.replace(/[()]/g, ' ').split(/\s+/).filter((w) => w !== '' && !/^(?:AND|OR|WITH)$/i.test(w));
  if (ids.length === 0) return false;
  return /\bAND\b/i.test(expression) ? ids.every((id) => ALLOWED.includes(id)) : ids.some((id) => ALLOWED.includes(id));
}

/**
 * The package folders whose files are inputs of the metafiles, each with the bundles it is in.
 * `bundles` maps a bundle's name (`handler`, `cli`) to its metafile; input paths are relative to
 * `root` (esbuild's working directory). The folder is the one under the last `node_modules/`, by
 * its real path.
 */
export function bundledPackages(bundles, root) {
  const found = new Map();
  for (const [bundle, metafile] of Object.entries(bundles)) {
    for (const input of Object.keys(metafile.inputs)) {
      const m = /^(.*node_modules\/)((?:@[^/]+\/)?[^/]+)\//.exec(input);
      if (m === null) continue;
      // One folder however it was reached (a symlinked node_modules, an alias to its real path).
      const dir = realpathSync(join(root, m[1] + m[2]));
      const entry = found.get(dir) ?? new Set();
      entry.add(bundle);
      found.set(dir, entry);
    }
  }
  return found;
}

function declaredLicence(pkg) {
  if (typeof pkg.license === 'string') return pkg.license;
  if (typeof pkg.license?.type === 'string') return pkg.license.type;
  if (Array.isArray(pkg.licenses)) return pkg.licenses.map((l) => l?.type).filter((t) => typeof t === 'string').join(' OR ');
  return '';
}

/**
 * The text of THIRD-PARTY-NOTICES for the bundles' packages; throws when one declares no licence
 * or one outside ALLOWED, or ships no licence text that no other package of its licence ships.
 */
export function thirdPartyNotices(bundles, { root, project }) {
  const packages = [...bundledPackages(bundles, root)].map(([dir, inBundles]) => {
    const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
    const files = readdirSync(dir).sort();
    const read = (re) => files.filter((f) => re.test(f)).map((f) => ({ file: f, text: readFileSync(join(dir, f), 'utf8').replace(/\r\n/g, '\n').trimEnd() }));
    return { name: String(pkg.name), version: String(pkg.version), licence: declaredLicence(pkg), in: [...inBundles].sort(), licences: read(LICENSE_FILE), notices: read(NOTICE_FILE) };
  });
  packages.sort((a, b) => (a.name === b.name ? a.version.localeCompare(b.version) : a.name < b.name ? -1 : 1));
  const refused = packages.filter((p) => !licenceAllowed(p.licence));
  if (refused.length > 0) {
    throw new Error(`bundled packages with a licence not decided (scripts/third-party-notices.mjs, ALLOWED): ${refused.map((p) => `${p.name}@${p.version} (${p.licence || 'none declared'})`).join(', ')}`);
  }
  const textOf = new Map();
  for (const p of packages) if (p.licences.length > 0 && !textOf.has(p.licence)) textOf.set(p.licence, p);
  const missing = packages.filter((p) => p.licences.length === 0 && !textOf.has(p.licence));
  if (missing.length > 0) throw new Error(`bundled packages without a licence text: ${missing.map((p) => `${p.name}@${p.version} (${p.licence})`).join(', ')}`);

  const inputs = new Set(Object.values(bundles).flatMap((m) => Object.keys(m.inputs)));
  const ported = PORTED.filter((p) => p.files.some((f) => inputs.has(f)));
  const portedWithoutText = ported.filter((p) => !textOf.has(p.licence));
  if (portedWithoutText.length > 0) throw new Error(`ported code without a licence text: ${portedWithoutText.map((p) => `${p.name} (${p.licence})`).join(', ')}`);

  const width = Math.max(...packages.map((p) => p.name.length), 7);
  const out = [
    `Third-party software in ${project.name} ${project.version}`,
    '',
    `${project.name} itself is licensed under ${project.license} (LICENSE). Its bundles (handler.js and`,
    'chunks/, cli.js and cli-chunks/; the functions `sam build` makes from template.yaml, which carry',
    'this file as THIRD-PARTY-NOTICES.txt) contain code of the packages below, bundled by esbuild; this',
    "file is written from esbuild's metafiles, so it lists exactly the packages of which a file is",
    'in a bundle. Each package is followed by its licence text and NOTICE file as the package ships',
    'them.',
    '',
    `${'package'.padEnd(width)}  version      licence        in`,
    ...packages.map((p) => `${p.name.padEnd(width)}  ${p.version.padEnd(11)}  ${p.licence.padEnd(13)}  ${p.in.join(', ')}`),
  ];
  const printed = new Map();
  for (const p of packages) {
    out.push('', '-'.repeat(100), `${p.name} ${p.version} (${p.licence})`, '');
    if (p.licences.length === 0) {
      const from = textOf.get(p.licence);
      out.push(`The package ships no licence file; its package.json declares ${p.licence}, whose text is given under ${from.name} ${from.version}.`);
    }
    for (const { file, text } of [...p.licences, ...p.notices]) {
      const same = printed.get(text);
      if (same === undefined) {
        printed.set(text, `${p.name} ${p.version}`);
        out.push(`${file}:`, '', text, '');
      } else {
        out.push(`${file}: the same text as under ${same}.`);
      }
    }
  }
  if (ported.length > 0) {
    if (out.at(-1) !== '') out.push('');
    out.push('='.repeat(100), `Code ported into ${project.name}'s own sources`, '');
    for (const p of ported) {
      const from = textOf.get(p.licence);
      out.push('-'.repeat(100), `${p.name} ${p.version} (${p.licence}), in ${p.files.join(', ')}`, '', p.notice, '', `Licensed under ${p.licence}, whose text is given under ${from.name} ${from.version}.`, '');
    }
  }
  return `${out.join('\n').replace(/\n+$/, '')}\n`;
}
