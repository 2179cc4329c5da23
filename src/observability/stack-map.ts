/**
 * Stack traces of a bundle in source positions, mapped only when an error is logged.
 *
 * The bundles (scripts/build.mjs, and SAM's build of template.yaml) write their source map as a
 * separate file with no `sourceMappingURL` comment, so Node never reads it at load, even with
 * `--enable-source-maps` (which SAM's esbuild builder adds to the function's NODE_OPTIONS whenever
 * a source map is built): parsing the map at every cold start cost more than the rest of the init
 * (docs/performance.md, "Cold start"). Instead, the first stack logged reads the map beside the
 * bundle once, and every frame of the bundle is rewritten to its source file, line and column with
 * node:module's `SourceMap`, which works without the flag. Small and ours because the readable
 * stack is needed only on the rare error line, never at load; a frame of another file (Node's own,
 * a dependency left outside the bundle) or a stack Node already mapped is left as it is.
 */
import { readFileSync } from 'node:fs';
import { SourceMap } from 'node:module';
import { fileURLToPath } from 'node:url';

interface BundleMap {
  /** `file:///.../handler.js:LINE:COLUMN` or `/.../handler.js:LINE:COLUMN` in a stack. */
  readonly frame: RegExp;
  readonly map: SourceMap;
}

const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * A source as written in the map, from the project's root: `../src/lambda/handler.ts` and SAM's
 * `../../../tmpb17fv94x/src/lambda/handler.ts` are both `src/lambda/handler.ts`; a dependency is
 * `node_modules/...`.
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

/** The map of `bundleUrl` (its `.map` beside it), or undefined when there is none or it is unreadable. */
export function readBundleMap(bundleUrl: string): BundleMap | undefined {
  try {
    const path = fileURLToPath(bundleUrl);
    const payload = JSON.parse(readFileSync(`${path}.map`, 'utf8')) as ConstructorParameters<typeof SourceMap>[0];
    const frame = new RegExp(`(?:${escape(bundleUrl)}|${escape(path)}):(\\d+):(\\d+)`, 'g');
    return { frame, map: new SourceMap(payload) };
  } catch {
    return undefined;
  }
}

/** Every frame of the bundle in `stack` at its source position; the others unchanged. */
export function mapStackWith(bundle: BundleMap, stack: string): string {
  return stack.replace(bundle.frame, (whole, line: string, column: string) => {
    // Stack positions count from 1, the map's from 0.
    const entry = bundle.map.findEntry(Number(line) - 1, Number(column) - 1);
    if (!('originalSource' in entry) || entry.generatedLine !== Number(line) - 1) return whole;
    return `${projectPath(entry.originalSource)}:${String(entry.originalLine + 1)}:${String(entry.originalColumn + 1)}`;
  });
}

/** The map of the bundle this module was bundled into: read at the first stack mapped, then kept. */
let own: BundleMap | null | undefined;

/** `stack` with the frames of this bundle at their source positions (unchanged when not bundled or without a map). */
export function mapStack(stack: string): string {
  own ??= readBundleMap(import.meta.url) ?? null;
  return own === null ? stack : mapStackWith(own, stack);
}
