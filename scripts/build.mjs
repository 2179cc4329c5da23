// Bundles the two stable entry points (docs/design.md, "Contracts"): dist/handler.js for Lambda, dist/cli.js for humans and tests.
// One module format (ESM), one bundler run.
//
// The Lambda bundle carries the AWS SDK v3 it uses (the SSM and Secrets Manager clients for settings
// read from AWS, the ECR client for existence checks), from the SDK's ES module build (`mainFields`:
// `module` first), tree-shaken to the operations src/ calls (src/config/sdk-ssm.ts and its siblings
// re-export only those) and split into chunks that only import() reaches: src/ loads a client
// only when a setting needs it, so inline rules and an inline token never read a byte of it (the
// check below keeps the SDK out of what a cold start loads). Measured against leaving the SDK out and
// loading the copy the Lambda runtime ships (as node_modules here), spawn -> first answer, 2 vCPUs,
// alternating (docs/performance.md, fourteenth pass): the token from an SSM parameter (the SAM
// template's setup) 169.6 -> 109.1 ms, from Secrets Manager 132.5 -> 100.5 ms, inline settings 47.9
// -> 48.0 ms. An earlier measurement, bundling the SDK into the one file (no splitting), had cost
// inline settings 77 ms, which is why it was left out then. Bundled, the function also runs the SDK
// version package-lock.json pins rather than whichever the runtime was last updated with.
import { build } from 'esbuild';
import { chmod, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { thirdPartyNotices } from './third-party-notices.mjs';

const pkg = JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8'));
const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  // The map as a file beside the bundle with no sourceMappingURL comment: Node never parses it at
  // load, even with --enable-source-maps (SAM adds the flag whenever its build makes a map; parsing
  // the map was the largest part of a cold start after node itself, docs/performance.md). The first
  // error logged reads it to give its stack in source positions (src/observability/stack-map.ts).
  // template.yaml builds the same (`Sourcemap: external`).
  sourcemap: 'external',
  // Positions only: the stacks need no sources (1.2 MB with them, 0.3 MB without).
  sourcesContent: false,
  legalComments: 'none',
  minify: true,
  // No `__name` call for every function: at load (hundreds in each bundle) and at each closure made
  // per request in `serve` (1.8% of a worker's CPU in a profile). A logged stack is mapped to src/
  // lines (src/observability/stack-map.ts), which say more than the names; error classes name
  // themselves (`override readonly name`).
  keepNames: false,
  metafile: true,
  define: { __IMAGE_REWRITER_VERSION__: JSON.stringify(pkg.version) },
  // Some CommonJS dependencies call require(); give the ESM bundle one.
  banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
  logLevel: 'warning',
};
// The Lambda bundle takes `yaml` from its ES module build (the package's `default` export, which
// it calls its browser build) rather than the CommonJS build its `node` condition selects: esbuild
// can hoist and tree-shake an ES module, while it must wrap every CommonJS file and run the
// wrappers at start. Measured: 18 KB smaller, 11 ms less from spawn to first answer. The two builds
// are the same code; the ES one only avoids Node APIs where it has a fallback (`!!binary` uses
// atob/btoa, global in Node; warnings go to console.warn, not process.emitWarning). template.yaml
// sets the same alias for SAM's build; the integration tests check that both bundles answer every
// event exactly as src/ does in process.
const yamlEsm = join(dirname(createRequire(import.meta.url).resolve('yaml/package.json')), 'browser', 'index.js');
// The Lambda bundle is split: what a module loads with import() (the YAML parser for a document
// that is not JSON, zod for a document the quick check does not accept, the regex check for a `regex` rule, the existence checks' registry client) goes
// to its own file under dist/chunks/, which Node reads and compiles only when that import runs. In
// one file, V8 would still have to read all of it at every cold start (docs/performance.md, cold
// start). template.yaml builds the same (`Splitting`, `ChunkNames`).
const entries = [
  { in: 'src/lambda/main.ts', out: 'dist/handler.js', mainFields: ['module', 'main'], alias: { yaml: yamlEsm }, split: { outdir: 'dist', entryNames: 'handler', chunkNames: 'chunks/[name]-[hash]' }, lazy: ['yaml', '@eslint-community/regexpp', 'zod', 'ajv', '@aws-sdk', '@smithy', '@aws-crypto'],
    // The Node built-ins a cold start may import statically: each other one costs its module (and
    // its ES module namespace) at every cold start; load it where it is used
    // (process.getBuiltinModule, or import()). node:fs and node:url are loaded anyway.
    builtinsAtStart: ['node:fs', 'node:url'],
    // The files a cold start loads: the entry and the chunks esbuild made of the code it shares with
    // the lazy chunks. Each more is one more ES module to resolve, read and link at every cold start;
    // a small module imported by both the entry and a lazy chunk (a helper moved to core/) becomes
    // such a file: import it with import() on the lazy side's path, or keep a copy there.
    maxFilesAtStart: 3,
    // No `require` for CommonJS dependencies: nothing in this bundle calls it (checked below), and
    // the banner would run createRequire in the entry and in every chunk at each cold start.
    requireShim: false,
    // Packages the function never runs, in no file of its bundle, lazy or not: Prometheus is
    // `serve --metrics-listen`'s alone (src/cli/serve-metrics.ts).
    never: ['prom-client'] },
  // The Kubernetes client (audit of a live cluster only) stays in node_modules, loaded with import():
  // bundled, it made dist/cli.js 4.6 MB instead of 1.0 MB, parsed at every start of every command.
  // Split as well, its chunks under dist/cli-chunks/: each command loads its own modules with
  // import(), and the AWS SDK (from its ES module build, as above) only where a setting reads from
  // AWS. One file was 1.27 MB for every start of every command (`render` of one manifest 200 ms;
  // split, 157 ms: docs/performance.md, fourteenth pass).
  // prom-client (`serve --metrics-listen` only) is in chunks that only the import() of
  // src/cli/serve-metrics.ts reaches: `serve` without the flag, and every other command, load none of it.
  { in: 'src/cli/bin.ts', out: 'dist/cli.js', banner: '#!/usr/bin/env node\n', external: ['@kubernetes/client-node'], mainFields: ['module', 'main'], split: { outdir: 'dist', entryNames: 'cli', chunkNames: 'cli-chunks/[name]-[hash]' }, loadedOnlyBy: { 'prom-client': 'src/cli/serve-metrics.ts' } },
];
// Chunk names carry a hash of their content: the chunks of an earlier build would stay beside the new ones.
await rm('dist/chunks', { recursive: true, force: true });
await rm('dist/cli-chunks', { recursive: true, force: true });
// Each bundle's metafile, by the name THIRD-PARTY-NOTICES gives it (below).
const metafiles = {};
for (const e of entries) {
  const result = await build({
    ...common,
    entryPoints: [e.in],
    external: e.external ?? [],
    ...(e.mainFields === undefined ? {} : { mainFields: e.mainFields }),
    alias: e.alias ?? {},
    ...(e.split === undefined ? { outfile: e.out } : { splitting: true, ...e.split }),
    banner: { js: (e.banner ?? '') + (e.requireShim === false ? '' : common.banner.js) },
  });
  if (e.banner) await chmod(e.out, 0o755);
  metafiles[e.split?.entryNames ?? e.out] = result.metafile;
  const outputs = Object.entries(result.metafile.outputs).filter(([path]) => path.endsWith('.js'));
  if (!outputs.some(([path]) => path === e.out)) throw new Error(`${e.out}: not written (outputs: ${outputs.map(([p]) => p).join(', ')})`);
  if (e.external !== undefined) {
    const eager = outputs.flatMap(([, o]) => o.imports).filter((i) => i.kind !== 'dynamic-import' && e.external.some((x) => i.path.startsWith(x.replace('*', ''))));
    if (eager.length > 0) {
      throw new Error(`${e.out}: ${e.external.join(', ')} must be imported with import() only (cold start); statically imported: ${eager.map((i) => i.path).join(', ')}`);
    }
  }
  if (e.requireShim === false) {
    // esbuild turns a require() it cannot bundle into a call that throws "Dynamic require of ... is not supported" without the banner's `require`.
    for (const [path] of outputs) {
      if ((await readFile(path, 'utf8')).includes('Dynamic require of')) throw new Error(`${path}: calls require(), which this bundle does not define (requireShim: false)`);
    }
  }
  if (e.lazy !== undefined) {
    // What a cold start loads: the entry and the chunks it imports statically. The lazy packages must not be in it.
    const atStart = new Set([e.out]);
    for (const path of atStart) for (const i of result.metafile.outputs[path]?.imports ?? []) if (i.kind === 'import-statement' && !i.external) atStart.add(i.path);
    if (e.maxFilesAtStart !== undefined && atStart.size > e.maxFilesAtStart) {
      throw new Error(`${e.out}: a cold start loads ${atStart.size} files (${[...atStart].join(', ')}), at most ${e.maxFilesAtStart}: a module shared by the entry and a lazy chunk became a chunk of its own`);
    }
    const loaded = [...atStart].flatMap((path) => Object.keys(result.metafile.outputs[path]?.inputs ?? {}));
    const early = loaded.filter((input) => e.lazy.some((pkg) => input.includes(`node_modules/${pkg}/`)));
    if (early.length > 0) throw new Error(`${e.out}: ${e.lazy.join(', ')} must be loaded only with import() (cold start); loaded at start: ${early.slice(0, 5).join(', ')}`);
    const builtins = [...atStart].flatMap((path) => (result.metafile.outputs[path]?.imports ?? []).filter((i) => i.kind === 'import-statement' && i.path.startsWith('node:')).map((i) => i.path));
    const extra = [...new Set(builtins)].filter((b) => !(e.builtinsAtStart ?? []).includes(b));
    if (extra.length > 0) throw new Error(`${e.out}: imports ${extra.join(', ')} at start; only ${(e.builtinsAtStart ?? []).join(', ')} may be (cold start): load it where it is used`);
  }
  if (e.loadedOnlyBy !== undefined) {
    // What each way in loads: the entry, or a module import() reaches, with the chunks they import statically.
    const staticClosure = (root) => {
      const files = new Set([root]);
      for (const path of files) for (const i of result.metafile.outputs[path]?.imports ?? []) if (i.kind === 'import-statement' && !i.external) files.add(i.path);
      return files;
    };
    for (const [pkg, only] of Object.entries(e.loadedOnlyBy)) {
      const roots = [e.out, ...outputs.filter(([, o]) => o.entryPoint !== undefined && o.entryPoint !== only).map(([path]) => path)];
      for (const root of roots) {
        const early = [...staticClosure(root)].flatMap((path) => Object.keys(result.metafile.outputs[path]?.inputs ?? {})).filter((input) => input.includes(`node_modules/${pkg}/`));
        if (early.length > 0) throw new Error(`${e.out}: ${pkg} must be loaded only by the import() of ${only}; ${root} loads ${early.slice(0, 3).join(', ')}`);
      }
      if (!outputs.some(([, o]) => o.entryPoint === only)) throw new Error(`${e.out}: ${only} is not loaded with import() (no chunk of its own)`);
    }
  }
  if (e.never !== undefined) {
    const inputs = outputs.flatMap(([, o]) => Object.keys(o.inputs));
    const found = inputs.filter((input) => e.never.some((pkg) => input.includes(`node_modules/${pkg}/`)));
    if (found.length > 0) throw new Error(`${e.out}: ${e.never.join(', ')} must not be in this bundle at all; found: ${found.slice(0, 5).join(', ')}`);
  }
}
// The licence texts and notices of the packages the bundles carry (scripts/third-party-notices.mjs;
// the container image copies dist/ whole). It fails the build on a licence not decided there.
await writeFile('dist/THIRD-PARTY-NOTICES', thirdPartyNotices(metafiles, { root: process.cwd(), project: pkg }));
// dist/ says its own module type: without this file Node reads and parses the project's whole
// package.json to learn that dist/handler.js is an ES module, at every cold start (about 0.5 ms in
// a profile). The Lambda's files need no such lookup: SAM's build names them .mjs (template.yaml).
await writeFile('dist/package.json', `${JSON.stringify({ type: 'module' })}\n`);
