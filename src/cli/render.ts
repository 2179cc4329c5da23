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
 *
 * Rules with `verify: true` (docs/verify.md) are decided as the webhook decides them: the manifests
 * are rendered once as planned; when some planned rewrite's rule verifies, every such target is
 * checked at once, with the verifier `invoke` and `serve` build (src/verify/setup.ts), then the
 * manifests are rendered again with each rule's policy applied (src/verify/policy.ts). Without such
 * a rewrite the first rendering is the answer: no verifier, no network.
 */
import { constants } from 'node:buffer';
import { type Command, EXIT, type Io, isNotUtf8, isUtf16Refusal, namespaceFlag, namespaceLimitedNote, openCliSources, parseFlags, startsUtf16, strictUtf8, UsageError } from './common.js';
import { lazyAwsClients } from '../config/aws-clients.js';
import { readUpTo } from '../config/bounded-read.js';
import { describeSystemError } from '../config/system-error.js';
import { oneLine, printable } from '../core/json.js';
import type { VerifySettings } from '../config/settings.js';
import type { PlannedRewrite } from '../core/decide.js';
import { SCOPES, type Scope } from '../core/manifest.js';
import { HEAP_PER_DOCUMENT_CHAR, renderManifests, type RenderOptions, type RenderResult } from '../manifests/render.js';
import { APPLY, type PolicyOutcome, policyOutcome, verifyRequestOf } from '../verify/policy.js';
import { verifierFor } from '../verify/setup.js';
import { requestKey, type Verdict, type Verifier, type VerifyRequest } from '../verify/verifier.js';

const isScope = (s: string): s is Scope => SCOPES.some((x) => x === s);

const NOT_UTF8 = 'is not UTF-8 text (YAML and JSON manifests are)';
/** Text that starts with a UTF-16 byte order mark (common.ts, startsUtf16). */
const UTF16 = 'is UTF-16 text (Windows PowerShell 5\'s > writes it); YAML and JSON manifests are UTF-8: save it as UTF-8';

/**
 * Past MAX_STRING_LENGTH (2^29 - 24 characters) V8 cannot hold the text as one string: the input's
 * error (exit 2), not a throw (exit 1, which says "something would change" to `--check` and `audit`).
 */
const TOO_LONG = `is larger than node can read as one text (${Math.floor(constants.MAX_STRING_LENGTH / 2 ** 20)} MiB)`;
const isTooLong = (e: unknown): boolean => (e as NodeJS.ErrnoException).code === 'ERR_STRING_TOO_LONG';

/**
 * The manifests of `-f FILE` (`-` or no flag: stdin); undefined after printing why they cannot be read.
 * At most MAX_STRING_LENGTH bytes are read (a UTF-8 text has at least as many bytes as characters):
 * read whole first, `-f /dev/zero` or an endless pipe took all the memory there was before the
 * text could be refused.
 */
export async function readManifests(file: string | undefined, io: Io): Promise<string | undefined> {
  if (file === undefined || file === '-') {
    try {
      return await io.readStdin(constants.MAX_STRING_LENGTH);
    } catch (e) {
      if (!isNotUtf8(e) && !isTooLong(e)) throw e;
      io.stderr(`error: stdin ${isTooLong(e) ? TOO_LONG : isUtf16Refusal(e) ? UTF16 : NOT_UTF8}\n`);
      return undefined;
    }
  }
  let bytes: Buffer;
  try {
    bytes = await readUpTo(file, constants.MAX_STRING_LENGTH + 1);
  } catch (e) {
    // `kubectl apply -f DIR` reads a folder of manifests; -f here takes one file: say so, not only EISDIR.
    const hint = (e as NodeJS.ErrnoException).code === 'EISDIR' ? '; -f takes one file, not a directory, or - for stdin' : '';
    io.stderr(`error: cannot read ${file}: ${describeSystemError(e)}${hint}\n`);
    return undefined;
  }
  if (bytes.length > constants.MAX_STRING_LENGTH) {
    io.stderr(`error: ${file} ${TOO_LONG}\n`);
    return undefined;
  }
  try {
    return strictUtf8.decode(bytes);
  } catch (e) {
    if (!isNotUtf8(e) && !isTooLong(e)) throw e;
    io.stderr(`error: ${file} ${isTooLong(e) ? TOO_LONG : startsUtf16(bytes) ? UTF16 : NOT_UTF8}\n`);
    return undefined;
  }
}

/** How `render` gets its verifier; tests give one that trusts their CA. */
export interface RenderRuntime {
  readonly verifier: (settings: VerifySettings) => Verifier;
}

/** The verifier of `invoke` and `serve`: Node's bundled CAs, NODE_EXTRA_CA_CERTS and the system's store (src/verify/trust.ts), credentials from the settings. */
const DEFAULT_RUNTIME: RenderRuntime = { verifier: (settings) => verifierFor(settings, lazyAwsClients()) };

/**
 * The manifests rendered as the webhook would answer for each object: planned, then, when some
 * planned rewrite's rule verifies, checked (all targets in one call, under one deadline) and
 * rendered again with the verdicts. Nothing is checked when the first rendering fails.
 */
async function renderVerified(source: string, options: RenderOptions, verifier: () => Verifier): Promise<RenderResult> {
  if (!options.rewriter.rules.some((r) => r.verify !== undefined)) return renderManifests(source, options);
  const requests = new Map<string, VerifyRequest>();
  const planned = renderManifests(source, {
    ...options,
    check: (rewrite) => {
      const request = verifyRequestOf(rewrite);
      if (request !== undefined) requests.set(requestKey(request), request);
      return APPLY;
    },
  });
  if (!planned.ok || requests.size === 0) return planned;
  const keys = [...requests.keys()];
  const { verdicts } = await verifier().verify([...requests.values()]);
  const byKey = new Map<string, Verdict>();
  for (const [i, key] of keys.entries()) {
    const verdict = verdicts[i];
    if (verdict !== undefined) byKey.set(key, verdict);
  }
  const check = (rewrite: PlannedRewrite): PolicyOutcome => {
    const request = verifyRequestOf(rewrite);
    // A target the first rendering did not plan cannot occur (the same text, the same rules); if it
    // did, it would count as unreachable rather than be rewritten unchecked.
    const verdict = request === undefined ? undefined : (byKey.get(requestKey(request)) ?? { status: 'unreachable', reason: 'not checked' });
    return policyOutcome(rewrite, verdict);
  };
  return renderManifests(source, { ...options, check });
}

/**
 * Whether any line of `text` is more than blank space, a comment, a directive, a document marker
 * (`---`, `...`) or a null document; stops at the first.
 */
function hasContent(text: string): boolean {
  for (let start = 0; start < text.length; ) {
    const end = text.indexOf('\n', start);
    const line = text.slice(start, end === -1 ? text.length : end);
    // A line that is a null document (`null`, `~`: what `jq '.items[0]'` prints for an empty List) holds no manifest either;
    // nor does a directive (`%YAML 1.2`, `%TAG ...`), a "%" first on its line, which says only how the documents after it are read.
    if (!line.startsWith('%') && !/^\s*(?:#.*|(?:---(?:\s+|$))?(?:(?:null|Null|NULL|~)(?:\s+#.*|\s*)|#.*)?|\.\.\.\s*)?$/.test(line)) return true;
    if (end === -1) break;
    start = end + 1;
  }
  return false;
}

export const command: Command = (args, io) => runRender(args, io);

/** `render` with an injected runtime (tests); `command` uses the verifier every command builds. */
export async function runRender(args: string[], io: Io, runtime: RenderRuntime = DEFAULT_RUNTIME): Promise<number> {
  const { values, positionals } = parseFlags({
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
  if (positionals.length > 0) throw new UsageError(`render takes its manifests from -f FILE or stdin, not from "${oneLine(positionals.join(' '))}"`);
  const scope = values.scope ?? 'all';
  if (!isScope(scope)) throw new UsageError(`--scope must be one of ${SCOPES.join(', ')}: ${oneLine(scope)}`);
  const namespace = namespaceFlag(values.namespace);
  const sources = await openCliSources(io, { configFile: values.config, tokenRequired: false });
  // A token that cannot be read is exit 1 elsewhere; here 1 says that something would change.
  if (typeof sources === 'number') return sources === EXIT.failure ? EXIT.invalidConfig : sources;
  const { rewriter } = sources.state;
  const source = await readManifests(values.filename, io);
  if (source === undefined) return EXIT.invalidConfig;
  // The heap this process may use bounds the largest document it can render (RenderOptions.maxDocumentChars).
  const maxDocumentChars = Math.floor(process.getBuiltinModule('node:v8').getHeapStatistics().heap_size_limit / HEAP_PER_DOCUMENT_CHAR);
  const result = await renderVerified(source, { rewriter, namespace, annotate: values.annotate === true, scope, maxDocumentChars }, () => runtime.verifier(sources.settings.verify));
  if (!result.ok) {
    // The error names the object and its fields, from the manifests as well: one printable line.
    io.stderr(`${printable(`error: ${values.filename === undefined || values.filename === '-' ? 'stdin' : values.filename}: ${result.error}; nothing written`)}\n`);
    return EXIT.invalidConfig;
  }
  // Object names and images come from the manifests (a third-party chart): one printable line each.
  for (const w of result.warnings) io.stderr(`${printable(`warning: document ${w.document}: ${w.object}: ${w.pointer}: ${w.message}`)}\n`);
  const limited = result.namespaceLimited ?? [];
  // As explain's note: such objects are rendered as in no namespace, where these rules never apply.
  if (limited.length > 0) io.stderr(`${printable(namespaceLimitedNote(limited, 'render'))}\n`);
  // An empty input is what a failed `kustomize build | render` gives without `set -o pipefail`: an
  // empty file committed, or a gate passed. Not an error (Helm gives a chart without manifests an
  // empty stream): a warning, for both.
  const empty = !hasContent(source);
  if (values.check !== true) {
    if (empty) io.stderr('warning: the input has no manifests: nothing was rendered (did the command before render fail? see set -o pipefail)\n');
    io.stdout(result.output);
    return EXIT.ok;
  }
  if (empty) io.stderr('warning: the input has no manifests: nothing was checked (did the command before render fail? see set -o pipefail)\n');
  for (const c of result.changes) io.stderr(`${printable(`document ${c.document}: ${c.object}: ${c.pointer}: ${c.from} -> ${c.to} (rule ${c.rule})`)}\n`);
  const documents = new Set(result.changes.map((c) => c.document)).size;
  io.stderr(
    result.changes.length === 0
      ? 'render --check: no image would change\n'
      : `render --check: ${result.changes.length} image(s) in ${documents} document(s) would change\n`,
  );
  return result.changes.length === 0 ? EXIT.ok : EXIT.failure;
}
