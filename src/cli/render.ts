/**
 * `image-rewriter render`: manifests in (multi-document YAML or JSON: `kustomize build`, `helm
 * template`, `kubectl get -o yaml`), the same manifests out with every image the webhook would
 * rewrite rewritten, every other byte as it was (src/manifests/render.ts). Also a Helm 3
 * post-renderer (`--post-renderer` runs it with the manifests on stdin) and, through
 * helm/image-rewriter/plugin.yaml, a Helm 4 post-renderer plugin.
 *
 * `--check` writes nothing to stdout: one line per image that would change on stderr, exit 1 when
 * any would, 0 when none would (a CI gate). Exit 2 when the rules or the manifests cannot be used;
 * then nothing is written to stdout either.
 */
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { type Command, EXIT, type Io, openCliSources, UsageError } from './common.js';
import { SCOPES, type Scope } from '../core/manifest.js';
import { renderManifests } from '../manifests/render.js';

const isScope = (s: string): s is Scope => SCOPES.some((x) => x === s);

/** The manifests of `-f FILE` (`-` or no flag: stdin); undefined after printing why they cannot be read. */
export async function readManifests(file: string | undefined, io: Io): Promise<string | undefined> {
  if (file === undefined || file === '-') return io.readStdin();
  try {
    return await readFile(file, 'utf8');
  } catch (e) {
    io.stderr(`error: cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}\n`);
    return undefined;
  }
}

export const command: Command = async (args, io) => {
  const { values, positionals } = parseArgs({
    args,
    options: {
      config: { type: 'string', short: 'c' },
      filename: { type: 'string', short: 'f' },
      namespace: { type: 'string', short: 'n' },
      annotate: { type: 'boolean' },
      check: { type: 'boolean' },
      scope: { type: 'string' },
    },
    allowPositionals: true,
    strict: true,
  });
  if (positionals.length > 0) throw new UsageError(`render takes its manifests from -f FILE or stdin, not from "${positionals.join(' ')}"`);
  const scope = values.scope ?? 'all';
  if (!isScope(scope)) throw new UsageError(`--scope must be one of ${SCOPES.join(', ')}`);
  const sources = await openCliSources(io, { configFile: values.config, tokenRequired: false });
  if (typeof sources === 'number') return sources;
  const { rewriter } = sources.state;
  const source = await readManifests(values.filename, io);
  if (source === undefined) return EXIT.invalidConfig;
  const result = renderManifests(source, {
    rewriter,
    namespace: values.namespace,
    annotate: values.annotate === true,
    scope,
  });
  if (!result.ok) {
    io.stderr(`error: ${values.filename ?? 'stdin'}: ${result.error}; nothing written\n`);
    return EXIT.invalidConfig;
  }
  for (const w of result.warnings) io.stderr(`warning: document ${w.document}: ${w.object}: ${w.pointer}: ${w.message}\n`);
  if (values.check !== true) {
    io.stdout(result.output);
    return EXIT.ok;
  }
  for (const c of result.changes) io.stderr(`document ${c.document}: ${c.object}: ${c.pointer}: ${c.from} -> ${c.to} (rule ${c.rule})\n`);
  const documents = new Set(result.changes.map((c) => c.document)).size;
  io.stderr(
    result.changes.length === 0
      ? 'render --check: no image would change\n'
      : `render --check: ${result.changes.length} image(s) in ${documents} document(s) would change\n`,
  );
  return result.changes.length === 0 ? EXIT.ok : EXIT.failure;
};
