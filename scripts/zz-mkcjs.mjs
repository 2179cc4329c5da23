import { build } from 'esbuild';
await build({
  entryPoints: ['dist/handler.js'], outfile: 'dist/handler-exp.cjs', bundle: true, platform: 'node', target: 'node20',
  format: 'cjs', minify: true, logLevel: 'warning',
  external: ['./chunks/sdk-*', './chunks/schema-*', './chunks/yaml-document-*', './chunks/setup-*', './chunks/secret-client-*', './chunks/regex-parse-full-*'],
});
