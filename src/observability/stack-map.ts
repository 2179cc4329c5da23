/**
 * Stack traces of the bundles in source positions, mapped only when an error is logged.
 *
 * The bundles (scripts/build.mjs, and SAM's build of template.yaml) write each source map as a
 * separate file with no `sourceMappingURL` comment, so Node never reads one at load, even with
 * `--enable-source-maps` (which SAM's esbuild builder adds to the function's NODE_OPTIONS whenever
 * a source map is built): parsing the map at every cold start cost more than the rest of the init
 * but node itself (docs/performance.md, cold start). Instead, a logged stack's frames are
 * rewritten to their source file, line and column with node:module's `SourceMap`, which works
 * without the flag; the map of a file (`FILE.map` beside it) is read the first time one of its
 * frames is logged, then kept. Small and ours because the readable stack is needed only on the
 * rare error line, never at load. Frames of Node's own modules, of node_modules, of files without
 * a map, and stacks Node already mapped (they name .ts files) are left as they are.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** A frame line of a stack (`    at f (...)`), not a line of the message. */
const FRAME_LINE = /^ {4}at .*$/gm;
/** `file:///var/task/main.mjs:1:2345` or `/var/task/main.mjs:1:2345`: the file, line and column. */
const POSITION = /((?:file:\/\/)?\/[^\s()]*?\.(?:mjs|cjs|js)):(\d+):(\d+)/g;

/**
 * A source as written in a map, from the project's root: `../src/lambda/handler.ts`, the chunks'
 * `../../src/config/load.ts` and SAM's `../../../tmpb17fv94x/src/lambda/handler.ts` all start at
 * `src/`; a dependency is `node_modules/...`.
 */
export function projectPath(source: string): string {
  const dependency = source.lastIndexOf('node_modules/');
  if (dependency >= 0) return source.slice(dependency);
  if (source.startsWith('src/')) return source;
  // The last `src/` folder: the project's own may sit under another (`/home/me/src/image-rewriter/src/`).
  const own = source.lastIndexOf('/src/');
  if (own >= 0) return source.slice(own + 1);
  return source.replace(/^(?:\.\.\/)+/, '');
}

/** The map beside each file seen in a logged stack; null when it has none (or it is unreadable). */
// node:module only once a stack is mapped, never at load (the bundle's cold start).
type SourceMap = InstanceType<typeof import('node:module').SourceMap>;

const maps = new Map<string, SourceMap | null>();

function mapOf(file: string): SourceMap | null {
  let map = maps.get(file);
  if (map === undefined) {
    try {
      const path = file.startsWith('file:') ? fileURLToPath(file) : file;
      const { SourceMap } = process.getBuiltinModule('node:module');
      map = new SourceMap(JSON.parse(readFileSync(`${path}.map`, 'utf8')) as ConstructorParameters<typeof SourceMap>[0]);
    } catch {
      map = null;
    }
    maps.set(file, map);
  }
  return map;
}

/** `stack` with every frame of a bundled file at its source position; the other frames unchanged. */
export function mapStack(stack: string): string {
  return stack.replace(FRAME_LINE, (frame) => frame.replace(POSITION, mapPosition));
}

function mapPosition(whole: string, file: string, line: string, column: string): string {
  if (file.includes('/node_modules/')) return whole;
  const map = mapOf(file);
  if (map === null) return whole;
  // Stack positions count from 1, the map's from 0.
  const entry = map.findEntry(Number(line) - 1, Number(column) - 1);
  if (!('originalSource' in entry) || entry.generatedLine !== Number(line) - 1) return whole;
  return `${projectPath(entry.originalSource)}:${String(entry.originalLine + 1)}:${String(entry.originalColumn + 1)}`;
}
