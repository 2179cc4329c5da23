/**
 * The layout of docs/design.md, checked: the import graph of src/ has no cycle (static, dynamic and
 * type-only imports all count); every relative import of a module targets its own folder or one the
 * folder's row of the document's folder table allows ("may import"; the table is read from
 * docs/design.md itself, so the two cannot drift apart); every folder of src/ has its row and every
 * row its folder; and no source file grows past the size a reader can hold.
 */
import { describe, expect, it } from '@jest/globals';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { REPO_ROOT } from '../helpers/fixtures.js';

const SRC = join(REPO_ROOT, 'src');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(path);
    return e.name.endsWith('.ts') ? [path] : [];
  });
}

/** One relative import of a module of src/ (paths relative to src/, `.js` read as the `.ts` it names). */
interface Import {
  readonly from: string;
  readonly specifier: string;
  readonly to: string;
  /** `import type` / `export type`: erased at build time, but still an import of the folder (see the table's test). */
  readonly typeOnly: boolean;
}

/** A static import or re-export (`import ... from`, `export ... from`, possibly over several lines), at the start of a line. */
const STATIC = /^[ \t]*(?:import|export)\s+(type\s+)?[^;'"]*?\bfrom\s*['"](\.{1,2}\/[^'"]+)['"]/gm;
/** A side-effect import (`import './x.js'`). */
const BARE = /^[ \t]*import\s*['"](\.{1,2}\/[^'"]+)['"]/gm;
/** A dynamic `import('./x.js')`, also in a type (`typeof import('./x.js')`): counted as a value import. */
const DYNAMIC = /\bimport\s*\(\s*['"](\.{1,2}\/[^'"]+)['"]/g;
/** Anything that looks like a relative import, however written: what the three above must all have seen. */
const ANY_IMPORT = /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)['"](\.{1,2}\/[^'"]+)['"]/g;

const target = (file: string, specifier: string): string => relative(SRC, normalize(join(dirname(file), specifier.replace(/\.js$/, '.ts'))));

/** Every relative import of `file` (absolute path): the static ones, then side-effect imports, then dynamic ones. */
function importsOf(file: string, text = readFileSync(file, 'utf8')): Import[] {
  const from = relative(SRC, file);
  const found = (specifier: string, typeOnly: boolean): Import => ({ from, specifier, to: target(file, specifier), typeOnly });
  return [
    ...[...text.matchAll(STATIC)].map((m) => found(m[2] ?? '', m[1] !== undefined)),
    ...[...text.matchAll(BARE)].map((m) => found(m[1] ?? '', false)),
    ...[...text.matchAll(DYNAMIC)].map((m) => found(m[1] ?? '', false)),
  ];
}

/** Module (path relative to src/) -> the modules it imports (relative imports only, of every kind). */
function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of sourceFiles(SRC)) graph.set(relative(SRC, file), [...new Set(importsOf(file).map((i) => i.to))]);
  return graph;
}

/** Every cycle's strongly connected component (Tarjan), as sorted module lists. */
function cycles(graph: Map<string, string[]>): string[][] {
  let index = 0;
  const indices = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string): void => {
    indices.set(v, index);
    low.set(v, index);
    index++;
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!indices.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v) ?? 0, low.get(w) ?? 0));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v) ?? 0, indices.get(w) ?? 0));
      }
    }
    if (low.get(v) === indices.get(v)) {
      const component: string[] = [];
      let w: string | undefined;
      do {
        w = stack.pop();
        if (w === undefined) break;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1 || (graph.get(v) ?? []).includes(v)) found.push(component.sort());
    }
  };
  for (const v of graph.keys()) if (!indices.has(v)) visit(v);
  return found;
}

/** The folder of a module (path relative to src/): its first segment; '' for a file of src/ itself. */
const folderOf = (module: string): string => (module.includes('/') ? (module.split('/')[0] ?? '') : '');

/** The folders of src/. */
const srcFolders = (): string[] => readdirSync(SRC, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name).sort();

/** What a folder may import of another folder, by its row of the table. */
interface Allowance {
  /** The note named files of that folder (`src/config/yaml-read.ts`, relative to src/ here): only those. */
  readonly files?: readonly string[];
  /** The note says "the type of ...": only `import type` / `export type`. */
  readonly typeOnly: boolean;
}

/** One row of docs/design.md's folder table, read. */
interface FolderRule {
  readonly folder: string;
  /** The "may import" cell as written, for the messages. */
  readonly cell: string;
  /** The folders it may import besides its own. */
  readonly allows: ReadonlyMap<string, Allowance>;
  /** Folders another row says it is "never imported by", with that row's folder. */
  readonly refused: ReadonlyMap<string, string>;
}

interface DesignTable {
  readonly rules: ReadonlyMap<string, FolderRule>;
  /** What is wrong with the table itself (a folder without its row, a row or a name that is no folder, a cell it cannot read). */
  readonly problems: readonly string[];
}

const cellsOf = (line: string): string[] => line.trim().replace(/^\|/, '').replace(/\|$/, '').split('|').map((c) => c.trim());

/** `text` cut at every `sep` outside parentheses. */
function splitOutside(text: string, sep: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    if (text[i] === '(') depth++;
    else if (text[i] === ')') depth--;
    else if (text[i] === sep && depth === 0) {
      parts.push(text.slice(start, i));
      start = i + 1;
    }
  }
  return [...parts, text.slice(start)];
}

/**
 * The folder table of docs/design.md (the one whose columns are "folder", ..., "may import"), read
 * as rules. Its first cell is a folder, `src/NAME/`. Its "may import" cell, up to a first `;` (what
 * follows is a note for other checks: the core's purity), is a list, split at commas outside
 * parentheses, of:
 * - `the layers above`: every folder whose row is above this one;
 * - `everything`: every folder;
 * - a folder, `core` or `` `src/core/` `` (`only` after it adds nothing), with an optional note in
 *   parentheses that must say which of its files (`src/config/yaml-read.ts`: only those) or that only
 *   a type is imported (`the type of ...`: only `import type` / `export type`).
 * Anything else is a problem of the table, not a guess. A row's other cells may say
 * `never imported by the NAME` (a folder): that folder may not import this one, whatever its own row says.
 * `exists` tells whether a file (relative to src/) named in a note exists.
 */
function readDesignTable(design: string, folders: readonly string[], exists = (file: string): boolean => existsSync(join(SRC, file))): DesignTable {
  const problems: string[] = [];
  const lines = design.split('\n');
  const header = lines.findIndex((l) => l.startsWith('|') && cellsOf(l)[0] === 'folder' && cellsOf(l).includes('may import'));
  if (header < 0) return { rules: new Map(), problems: ['docs/design.md has no table with the columns "folder" and "may import"'] };
  const column = cellsOf(lines[header] ?? '').indexOf('may import');
  const rows: { folder: string; cells: string[]; line: number }[] = [];
  for (let i = header + 2; i < lines.length && (lines[i] ?? '').startsWith('|'); i++) {
    const cells = cellsOf(lines[i] ?? '');
    const folder = /^`src\/([a-z-]+)\/`$/.exec(cells[0] ?? '')?.[1];
    if (folder === undefined) problems.push(`docs/design.md:${i + 1}: the first cell, ${cells[0] ?? ''}, is not a folder written \`src/NAME/\``);
    else if (!folders.includes(folder)) problems.push(`docs/design.md:${i + 1}: a row for src/${folder}/, which is no folder of src/`);
    else if (rows.some((r) => r.folder === folder)) problems.push(`docs/design.md:${i + 1}: a second row for src/${folder}/`);
    else rows.push({ folder, cells, line: i + 1 });
  }
  for (const f of folders) if (!rows.some((r) => r.folder === f)) problems.push(`src/${f}/ has no row in docs/design.md's folder table`);

  const refused = new Map<string, Map<string, string>>();
  for (const row of rows) {
    for (const m of row.cells.join(' ').matchAll(/never imported by (?:the )?`?(?:src\/)?([A-Za-z-]+)\/?`?/g)) {
      const by = (m[1] ?? '').toLowerCase();
      if (!folders.includes(by)) problems.push(`docs/design.md:${row.line}: "${m[0]}" names no folder of src/`);
      else refused.set(by, (refused.get(by) ?? new Map<string, string>()).set(row.folder, m[0]));
    }
  }

  const rules = new Map<string, FolderRule>();
  rows.forEach((row, index) => {
    const cell = row.cells[column] ?? '';
    const allows = new Map<string, Allowance>();
    const allow = (folder: string, allowance: Allowance = { typeOnly: false }): void => {
      if (folder !== row.folder) allows.set(folder, allowance);
    };
    for (const entry of splitOutside(splitOutside(cell, ';')[0] ?? '', ',').map((e) => e.trim())) {
      const named = /^`?(?:src\/)?([a-z-]+)\/?`?(?: only)?(?: \((.*)\))?$/s.exec(entry);
      if (entry === 'the layers above') for (const r of rows.slice(0, index)) allow(r.folder);
      else if (entry === 'everything') for (const f of folders) allow(f);
      else if (named === null || !folders.includes(named[1] ?? '')) problems.push(`docs/design.md:${row.line}: src/${row.folder}/ may import "${entry}", which is no folder of src/ (nor "the layers above", "everything")`);
      else {
        const folder = named[1] ?? '';
        const note = named[2];
        const files = [...(note ?? '').matchAll(/\bsrc\/([a-z-]+\/[\w./-]+\.ts)\b/g)].map((m) => m[1] ?? '');
        const typeOnly = note !== undefined && /^the type\b/.test(note);
        for (const f of files) {
          if (folderOf(f) !== folder) problems.push(`docs/design.md:${row.line}: the note of ${folder} names src/${f}, a file of another folder`);
          else if (!exists(f)) problems.push(`docs/design.md:${row.line}: the note of ${folder} names src/${f}, which does not exist`);
        }
        if (note !== undefined && files.length === 0 && !typeOnly) problems.push(`docs/design.md:${row.line}: the note "(${note})" of ${folder} says neither which files (src/${folder}/NAME.ts) nor "the type of ...": this test cannot read it`);
        allow(folder, { ...(files.length > 0 ? { files } : {}), typeOnly });
      }
    }
    rules.set(row.folder, { folder: row.folder, cell, allows, refused: refused.get(row.folder) ?? new Map<string, string>() });
  });
  return { rules, problems };
}

/** Every import of `imports` its folder's row does not allow, each said with the file, the import and the rule. */
function forbiddenImports(imports: readonly Import[], rules: ReadonlyMap<string, FolderRule>): string[] {
  return imports.flatMap((i) => {
    const from = folderOf(i.from);
    const to = folderOf(i.to);
    const rule = rules.get(from);
    const allowance = rule?.allows.get(to);
    const refusedBy = rule?.refused.get(to);
    let why: string | undefined;
    if (i.to.startsWith('..')) why = 'it reaches outside src/';
    else if (rule === undefined) why = `src/${from}/ has no row in docs/design.md's folder table`;
    else if (to === from) why = undefined;
    else if (refusedBy !== undefined) why = `the row of src/${to}/ says "${refusedBy}"`;
    else if (allowance === undefined) why = `the row of src/${from}/ does not name src/${to}/`;
    else if (allowance.files !== undefined && !allowance.files.includes(i.to)) why = `of src/${to}/, the row of src/${from}/ names only ${allowance.files.map((f) => `src/${f}`).join(', ')}`;
    else if (allowance.typeOnly && !i.typeOnly) why = `of src/${to}/, the row of src/${from}/ allows only a type (import type)`;
    if (why === undefined) return [];
    const kind = i.typeOnly ? 'imports the types of' : 'imports';
    const cell = rule === undefined ? '' : ` (may import: ${rule.cell})`;
    return [`src/${i.from} ${kind} '${i.specifier}' (src/${i.to}): ${why}${cell}`];
  });
}

/** A table written as docs/design.md's is, for the tests of the reader and the check themselves. */
const PLANTED_TABLE = [
  '| folder | its one job | may import |',
  '|---|---|---|',
  '| `src/base/` | pure | `src/base/` only; no `node:*` |',
  '| `src/mid/` | the middle | base, tool (the type of its setting) |',
  '| `src/tool/` | a tool; never imported by the app | base, mid (its reader, src/mid/reader.ts) |',
  '| `src/app/` | the app | the layers above |',
  '| `src/edge/` | the edge | the layers above |',
  '| `src/bin/` | the entry | everything |',
  '',
].join('\n');

describe('the architecture of src/', () => {
  const graph = importGraph();
  const imports = sourceFiles(SRC).flatMap((f) => importsOf(f));
  const table = readDesignTable(readFileSync(join(REPO_ROOT, 'docs', 'design.md'), 'utf8'), srcFolders());

  it('has modules to check (the scan works)', () => {
    expect(graph.size).toBeGreaterThan(10);
    expect(graph.get('lambda/main.ts')?.length ?? 0).toBeGreaterThan(0);
    expect(imports.some((i) => i.typeOnly)).toBe(true);
    expect(imports.some((i) => folderOf(i.from) !== folderOf(i.to))).toBe(true);
  });

  it('the import scan classifies every relative import of src/ (static, re-export, side effect, dynamic; type-only or not)', () => {
    const missed = sourceFiles(SRC).flatMap((f) => {
      const text = readFileSync(f, 'utf8');
      const seen = new Set(importsOf(f, text).map((i) => i.specifier));
      return [...text.matchAll(ANY_IMPORT)].map((m) => m[1] ?? '').filter((s) => !seen.has(s)).map((s) => `src/${relative(SRC, f)}: '${s}'`);
    });
    expect(missed).toEqual([]);
  });

  it('the import scan reads each kind of import', () => {
    const text = [
      "import { a } from './a.js';",
      "import type { B } from '../b/b.js';",
      "export type { C } from './c.js';",
      "export * from './d.js';",
      'import {',
      '  e,',
      '  type E,',
      "} from './e.js';",
      "import './f.js';",
      "const g = await import('./g.js');",
      "type H = typeof import('./h.js');",
      '// a comment: import the rules',
      "import type { I } from './i.js';",
    ].join('\n');
    expect(importsOf(join(SRC, 'x', 'y.ts'), text).map((i) => `${i.typeOnly ? 'type ' : ''}${i.to}`).sort()).toEqual(
      ['x/a.ts', 'type b/b.ts', 'type x/c.ts', 'x/d.ts', 'x/e.ts', 'x/f.ts', 'x/g.ts', 'x/h.ts', 'type x/i.ts'].sort(),
    );
  });

  it('the cycle finder finds a planted cycle', () => {
    const planted = new Map([['a.ts', ['b.ts']], ['b.ts', ['c.ts']], ['c.ts', ['a.ts']], ['d.ts', ['a.ts']]]);
    expect(cycles(planted)).toEqual([['a.ts', 'b.ts', 'c.ts']]);
  });

  it('has no import cycle', () => {
    expect(cycles(graph)).toEqual([]);
  });

  it("docs/design.md's folder table reads: a row for every folder of src/ and none for another, every folder and file its cells name exist", () => {
    expect(table.problems).toEqual([]);
    expect([...table.rules.keys()].sort()).toEqual(srcFolders());
    expect([...graph.keys()].filter((m) => !table.rules.has(folderOf(m)))).toEqual([]);
  });

  it('the table reader finds what is wrong with a table', () => {
    const broken = PLANTED_TABLE.replace('| `src/edge/` | the edge | the layers above |', '| `src/gone/` | a folder removed | base |').replace('base, tool (the type of its setting)', 'base, tools, tool (as it likes)').replace('src/mid/reader.ts', 'src/mid/gone.ts');
    expect(readDesignTable(broken, ['base', 'mid', 'tool', 'app', 'edge', 'bin'], (f) => f === 'mid/reader.ts').problems).toEqual([
      'docs/design.md:7: a row for src/gone/, which is no folder of src/',
      'src/edge/ has no row in docs/design.md\'s folder table',
      'docs/design.md:4: src/mid/ may import "tools", which is no folder of src/ (nor "the layers above", "everything")',
      'docs/design.md:4: the note "(as it likes)" of tool says neither which files (src/tool/NAME.ts) nor "the type of ...": this test cannot read it',
      'docs/design.md:5: the note of mid names src/mid/gone.ts, which does not exist',
    ]);
  });

  it('the check refuses an import its row does not allow, and says the file, the import and the rule', () => {
    const { rules, problems } = readDesignTable(PLANTED_TABLE, ['base', 'mid', 'tool', 'app', 'edge', 'bin'], (f) => f === 'mid/reader.ts');
    expect(problems).toEqual([]);
    const planted = (from: string, to: string, typeOnly = false): Import => ({ from, specifier: `../${to.replace(/\.ts$/, '.js')}`, to, typeOnly });
    const allowed = [
      planted('base/a.ts', 'base/b.ts'),
      planted('mid/a.ts', 'base/b.ts'),
      planted('mid/a.ts', 'tool/setting.ts', true),
      planted('tool/a.ts', 'mid/reader.ts'),
      planted('edge/a.ts', 'app/a.ts'),
      planted('edge/a.ts', 'tool/a.ts'),
      planted('bin/a.ts', 'edge/a.ts'),
    ];
    expect(forbiddenImports(allowed, rules)).toEqual([]);
    const forbidden = [
      planted('base/a.ts', 'mid/a.ts', true),
      planted('mid/a.ts', 'tool/setting.ts'),
      planted('tool/a.ts', 'mid/other.ts'),
      planted('app/a.ts', 'tool/a.ts'),
      planted('app/a.ts', 'edge/a.ts'),
      planted('edge/a.ts', '../package.ts'),
    ];
    expect(forbiddenImports(forbidden, rules)).toEqual([
      "src/base/a.ts imports the types of '../mid/a.js' (src/mid/a.ts): the row of src/base/ does not name src/mid/ (may import: `src/base/` only; no `node:*`)",
      "src/mid/a.ts imports '../tool/setting.js' (src/tool/setting.ts): of src/tool/, the row of src/mid/ allows only a type (import type) (may import: base, tool (the type of its setting))",
      "src/tool/a.ts imports '../mid/other.js' (src/mid/other.ts): of src/mid/, the row of src/tool/ names only src/mid/reader.ts (may import: base, mid (its reader, src/mid/reader.ts))",
      `src/app/a.ts imports '../tool/a.js' (src/tool/a.ts): the row of src/tool/ says "never imported by the app" (may import: the layers above)`,
      "src/app/a.ts imports '../edge/a.js' (src/edge/a.ts): the row of src/app/ does not name src/edge/ (may import: the layers above)",
      "src/edge/a.ts imports '../../package.js' (src/../package.ts): it reaches outside src/ (may import: the layers above)",
    ]);
  });

  // docs/design.md's table counts a type-only import as an import: config's row names verify for
  // "the type of its credentials setting" only. So `import type` counts here, and where a note says
  // "the type of", only `import type` / `export type` is allowed. `import { type X }` counts as a
  // value import (verbatimModuleSyntax keeps it as `import {} from`, which loads the module), and so
  // does `typeof import('...')`.
  it("every relative import of src/ (static, dynamic, type-only) targets its own folder or one its row of docs/design.md allows", () => {
    expect(forbiddenImports(imports, table.rules)).toEqual([]);
  });

  it('every section a comment in src/ cites (docs/design.md, "Data paths") is a heading of that document', () => {
    const headings = new Map<string, string[]>();
    const headingsOf = (doc: string): string[] => {
      let found = headings.get(doc);
      if (found === undefined) {
        found = [...readFileSync(join(REPO_ROOT, doc), 'utf8').matchAll(/^#{1,6} (.+)$/gm)].map((m) => (m[1] ?? '').toLowerCase());
        headings.set(doc, found);
      }
      return found;
    };
    const cited = sourceFiles(SRC).flatMap((f) => [...readFileSync(f, 'utf8').matchAll(/\b((?:docs\/[a-z-]+|README)\.md), "([^"]+)"/g)].map((m) => ({ file: relative(SRC, f), doc: m[1] ?? '', section: (m[2] ?? '').replace(/\s*\n\s*(?:\*|\/\/)?\s*/g, ' ') })));
    expect(cited.length).toBeGreaterThan(5);
    expect(cited.filter((c) => !headingsOf(c.doc).some((h) => h.includes(c.section.toLowerCase())))).toEqual([]);
  });

  it("the AWS SDK's code is imported only by the modules that re-export the operations called (the bundle keeps only those)", () => {
    // Type-only imports cost nothing at run time; a value import or import() of a client package
    // elsewhere would bring every operation of the client into the bundle (docs/performance.md, fourteenth pass).
    const SDK_VALUE_IMPORT = /(?:\bimport\s*\(\s*|\b(?:import|export)\s+(?!type\b)[^;]*?\bfrom\s*)'@aws-sdk\//g;
    const importers = sourceFiles(SRC)
      .filter((f) => [...readFileSync(f, 'utf8').matchAll(SDK_VALUE_IMPORT)].length > 0)
      .map((f) => relative(SRC, f))
      .sort();
    // The deploy-time token function is built apart, with the runtime's SDK (template.yaml).
    expect(importers).toEqual(['config/sdk-secrets-manager.ts', 'config/sdk-ssm.ts', 'lambda/token-resource.ts', 'verify/sdk-ecr.ts']);
  });

  it("src/cli/common.ts, the commands' leaf module of shared helpers (docs/design.md), imports no other module of src/cli", () => {
    // A command's own module imported here is loaded by every command (webhook-endpoint.ts, with
    // node:crypto and node:net, was, for its DNS name checks).
    expect(imports.filter((i) => i.from === 'cli/common.ts' && folderOf(i.to) === 'cli').map((i) => i.specifier)).toEqual([]);
  });

  it('no source file is longer than 500 lines', () => {
    const long = sourceFiles(SRC)
      .map((f) => ({ file: relative(SRC, f), lines: readFileSync(f, 'utf8').split('\n').length }))
      .filter((f) => f.lines > 500);
    expect(long).toEqual([]);
  });
});
