/**
 * docs/design.md, "Architecture: one pure core, thin adapters": src/core is pure (no Node I/O, no
 * AWS, no package at all, no environment) and src/manifests, render's text edits, does no I/O. Read
 * with TypeScript's parser, so no way of writing an import escapes (`import` or `export ... from`, a
 * side-effect import, `import()`, `typeof import()`, either quotes), nor a global that does I/O or
 * reads the environment. eslint says the same in the editor (eslint.config.mjs); its rules do not
 * see import() and match globals, not `globalThis.process`, which this test does.
 */
import { describe, expect, it } from '@jest/globals';
import { readdirSync, readFileSync } from 'node:fs';
import { isBuiltin } from 'node:module';
import { join, relative } from 'node:path';
import ts from 'typescript';
import { REPO_ROOT } from '../helpers/fixtures.js';

/** Globals through which a module does I/O, waits, or reads the environment. */
const IO_GLOBALS = ['process', 'Buffer', 'fetch', 'console', 'setTimeout', 'setInterval', 'setImmediate', 'queueMicrotask', 'require', 'globalThis', 'WebSocket', 'XMLHttpRequest'];

/** The packages src/manifests may import: text and patch libraries, no I/O. */
const MANIFESTS_PACKAGES = ['yaml', 'fast-json-patch'];

interface Scan {
  /** Every module specifier, however imported. */
  readonly specifiers: readonly string[];
  /** Every reference to a name of IO_GLOBALS, as `line: name`. */
  readonly globals: readonly string[];
}

/** The module specifiers and the I/O globals of one source text. */
function scan(text: string, name = 'x.ts'): Scan {
  const source = ts.createSourceFile(name, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const specifiers: string[] = [];
  const globals: string[] = [];
  const visit = (node: ts.Node): void => {
    if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier !== undefined && ts.isStringLiteral(node.moduleSpecifier)) {
      specifiers.push(node.moduleSpecifier.text);
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      const [first] = node.arguments;
      specifiers.push(first !== undefined && ts.isStringLiteralLike(first) ? first.text : '<computed import()>');
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument) && ts.isStringLiteral(node.argument.literal)) {
      specifiers.push(node.argument.literal.text);
    } else if (ts.isIdentifier(node) && IO_GLOBALS.includes(node.text)) {
      const parent = node.parent;
      // `x.process` and `{ process: 1 }` name a property, not the global.
      const property = (ts.isPropertyAccessExpression(parent) && parent.name === node) || (ts.isPropertyAssignment(parent) && parent.name === node) || (ts.isPropertySignature(parent) && parent.name === node);
      if (!property) globals.push(`${source.getLineAndCharacterOfPosition(node.getStart()).line + 1}: ${node.text}`);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return { specifiers, globals };
}

const sourcesOf = (folder: string): { file: string; scan: Scan }[] => {
  const dir = join(REPO_ROOT, 'src', folder);
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts'))
    .map((f) => ({ file: relative(join(REPO_ROOT, 'src'), join(dir, f)), scan: scan(readFileSync(join(dir, f), 'utf8'), f) }));
};

describe('the scan', () => {
  it('sees every way of writing an import, and the I/O globals but not properties of that name', () => {
    const text = [
      "import { a } from 'pkg-a';",
      'import type { B } from "pkg-b";',
      "export * from 'pkg-c';",
      "export { d } from './d.js';",
      "import 'pkg-e';",
      "const f = await import('pkg-f');",
      "type G = typeof import('pkg-g');",
      'const h = await import(name);',
      '// import { z } from "commented";',
      'const env = globalThis.process.env;',
      'console.log(Buffer.from(x));',
      'const o = { process: 1, console: 2 }; o.process; o.setTimeout;',
      'interface I { fetch: number }',
    ].join('\n');
    expect(scan(text)).toEqual({
      specifiers: ['pkg-a', 'pkg-b', 'pkg-c', './d.js', 'pkg-e', 'pkg-f', 'pkg-g', '<computed import()>'],
      globals: ['10: globalThis', '11: console', '11: Buffer'],
    });
  });
});

describe('src/core purity', () => {
  const core = sourcesOf('core');

  it('has modules', () => {
    expect(core.map((c) => c.file)).toEqual(expect.arrayContaining(['core/reference.ts', 'core/rules.ts']));
  });

  it.each(core)('$file imports only modules of the core (no package, no Node module, no other folder)', ({ scan: s }) => {
    expect(s.specifiers.filter((m) => !m.startsWith('./'))).toEqual([]);
  });

  it.each(core)('$file uses no global that does I/O or reads the environment', ({ scan: s }) => {
    expect(s.globals).toEqual([]);
  });
});

describe('src/manifests does no I/O', () => {
  const manifests = sourcesOf('manifests');

  it('has modules', () => {
    expect(manifests.map((m) => m.file)).toEqual(expect.arrayContaining(['manifests/render.ts', 'manifests/yaml-edit.ts']));
  });

  it.each(manifests)(`$file imports no Node module and no package but ${MANIFESTS_PACKAGES.join(', ')}`, ({ scan: s }) => {
    const packages = s.specifiers.filter((m) => !m.startsWith('./') && !m.startsWith('../'));
    expect(packages.filter((m) => isBuiltin(m) || !MANIFESTS_PACKAGES.includes(m))).toEqual([]);
  });

  it.each(manifests)('$file uses no global that does I/O or reads the environment', ({ scan: s }) => {
    expect(s.globals).toEqual([]);
  });
});
