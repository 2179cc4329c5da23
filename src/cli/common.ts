/**
 * What every command shares, in a leaf module so that commands never import the dispatcher
 * (src/cli/main.ts): the injected streams and environment, the exit codes, the usage error, the
 * flags' parsing and Kubernetes name checks, and the one way a command gets its configuration
 * (src/config/sources.ts, like the Lambda).
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { lazyAwsClients } from '../config/aws-clients.js';
import { formatIssues } from '../config/load.js';
import type { RulesState } from '../config/refresh.js';
import { type AdapterOptions, readSettings, type Settings, SourceError } from '../config/settings.js';
import { describeRules, openSources, type SharedRules, type Sources } from '../config/sources.js';
import type { Log } from '../observability/log.js';
import { createObservability, type Logger, type Metrics } from '../observability/telemetry.js';
import { oneLine, terminalLines } from '../core/json.js';
import { foreignNote } from '../core/reference.js';

export interface Io {
  readonly stdout: (s: string) => void;
  readonly stderr: (s: string) => void;
  readonly env: Readonly<Record<string, string | undefined>>;
  /**
   * stdin's text. With `maxBytes`, reading stops past that many bytes with an error whose code is
   * `ERR_STRING_TOO_LONG` (as V8's for a text too long to hold): an endless or huge stdin is not
   * held in memory whole before it can be refused. Bytes that are not UTF-8 reject with strictUtf8's
   * error, marked `utf16: true` when they start with a UTF-16 byte order mark (isUtf16Refusal).
   */
  readonly readStdin: (maxBytes?: number) => Promise<string>;
  /**
   * stdin's bytes as they arrive, for a command that answers as it reads (`explain -`); without it,
   * such a command takes `readStdin`'s text in one piece.
   */
  readonly stdinChunks?: () => AsyncIterable<Uint8Array>;
  /**
   * Resolves once what was given to `stdout` has been taken by its reader, or at once when little
   * is waiting: a command that writes a line per input waits on it, so that its output is not held
   * in memory while a slow reader catches up. Without it (in-process callers), writes never wait.
   */
  readonly stdoutDrained?: () => Promise<void>;
  /**
   * True once stdout's reader has gone (EPIPE: `explain - | head -1`): a command answering an
   * endless stdin as it reads stops there, as a writer killed by SIGPIPE would. Without it, never.
   */
  readonly stdoutClosed?: () => boolean;
  /**
   * The script this process runs (dist/cli.js), set by the CLI's entry point only: commands that
   * start more processes of it (`serve --workers`) need it; in-process callers (tests) leave it out.
   */
  readonly processEntry?: string;
  /**
   * Bytes given to `stderr` that its reader has not taken yet (the CLI's entry: what process.stderr
   * holds); `serve` drops log lines while it is past MAX_LOG_BACKLOG_BYTES (./serve.ts).
   */
  readonly stderrBacklog?: () => number;
}

/**
 * Input text is UTF-8 or an error: never quietly turned into U+FFFD (kubectl refuses such
 * manifests; render writes back every byte, so a BOM is kept, not dropped).
 */
export const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
/** A decoder of its own for one stream read chunk by chunk (`decode(chunk, { stream: true })`), as strict as strictUtf8. */
export const strictUtf8Stream = (): InstanceType<typeof TextDecoder> => new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
/** Whether `e` is strictUtf8's refusal. */
export const isNotUtf8 = (e: unknown): boolean => (e as NodeJS.ErrnoException).code === 'ERR_ENCODING_INVALID_ENCODED_DATA';
/** A UTF-16 byte order mark (FF FE, FE FF): what Windows PowerShell's `>` writes, which kubectl reads. */
export const startsUtf16 = (bytes: Uint8Array): boolean => bytes.length >= 2 && ((bytes[0] === 0xff && bytes[1] === 0xfe) || (bytes[0] === 0xfe && bytes[1] === 0xff));
/** Whether `e`, strictUtf8's refusal of stdin, was of text that starts as UTF-16 (Io's readStdin marks it so). */
export const isUtf16Refusal = (e: unknown): boolean => (e as { utf16?: unknown }).utf16 === true;

/** Exit codes. */
export const EXIT = { ok: 0, failure: 1, usage: 64, invalidConfig: 2 } as const;

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/**
 * render's and audit's note for rules limited to `namespaces` that would take an image of an
 * object of no known namespace (explain has its own words for an image alone).
 */
export function namespaceLimitedNote(names: readonly string[], command: 'render' | 'audit'): string {
  const shown = names.slice(0, 3).map((n) => JSON.stringify(n)).join(', ') + (names.length > 3 ? ` and ${names.length - 3} more` : '');
  const text = names.length === 1 ? `rule ${shown} applies only in the namespaces it lists` : `rules ${shown} apply only in the namespaces they list`;
  return `note: ${text}, where an image of an object without metadata.namespace would be rewritten: give --namespace NS to ${command} the objects applied in NS`;
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** A DNS-1123 label: a namespace name (`audit -n`), a Service name. */
export const isDnsLabel = (s: string): boolean => s.length <= 63 && DNS_LABEL.test(s);
/** A DNS-1123 subdomain: an object name (`--name`), a Service path segment (the token). */
export const isDnsSubdomain = (s: string): boolean => s.length <= 253 && DNS_SUBDOMAIN.test(s);
export const DNS_LABEL_RULE = 'a DNS-1123 label: lower-case letters, digits and "-", starting and ending with a letter or digit, at most 63 characters';

/**
 * `-n ""` (a script's `-n "$NS"` with NS unset) names no namespace: refused, since taking it as
 * unset would widen the command to every namespace, and as a name it would match no object. So is
 * a value no namespace can have, as kubectl and Helm refuse it (`Team-A`, `..`): as a name it would
 * match no rule limited to namespaces (a typo made `render --check` pass), and `audit`'s client
 * would lower-case it in the URL path (NS1 audited ns1) and resolve `..` there (every namespace).
 */
export function namespaceFlag(value: string | undefined): string | undefined {
  if (value === '') throw new UsageError('-n/--namespace is empty: name a namespace, or leave the flag out');
  if (value !== undefined && !isDnsLabel(value)) throw new UsageError(`-n/--namespace must be a namespace name (${DNS_LABEL_RULE}): ${oneLine(value)}${foreignNote(value)}`);
  return value;
}

export type Command = (args: string[], io: Io) => Promise<number>;

/**
 * `-X=VALUE` as `-X VALUE` for a short option that takes a value, as kubectl (pflag) reads it
 * (`-o=json`, `-n=shop`, `-f=pod.yaml`); parseArgs would take `=VALUE` as the value. Not after `--`.
 */
function splitShortEquals(config: ParseArgsConfig): ParseArgsConfig {
  const { args, options } = config;
  if (args === undefined || options === undefined) return config;
  const end = args.indexOf('--');
  const split = args.flatMap((arg, i) => {
    const m = (end < 0 || i < end) && /^-([A-Za-z])=/.exec(arg);
    const short = m ? m[1] : undefined;
    return short !== undefined && Object.values(options).some((o) => o.short === short && o.type === 'string') ? [`-${short}`, arg.slice(3)] : [arg];
  });
  return { ...config, args: split };
}

/**
 * node:util's parseArgs (`-X=VALUE` read as kubectl reads it), and a usage error for an option given
 * twice: parseArgs keeps the last value, so a flag appended by a script (`--url A ... --url B`)
 * would win without a word.
 */
export function parseFlags<T extends ParseArgsConfig>(given: T): ReturnType<typeof parseArgs<T>> {
  const config = splitShortEquals(given) as T;
  const seen = new Set<string>();
  for (const token of strictTokens(config)) {
    if (token.kind !== 'option') continue;
    if (config.options?.[token.name]?.multiple !== true && seen.has(token.name)) throw new UsageError(`--${token.name} is given more than once`);
    seen.add(token.name);
  }
  return parseArgs(config);
}

/**
 * The tokens of a strict parse; an unknown option or an argument where only flags are taken in our
 * words. Node's were "Unknown option '--tls-cert'. To specify a positional argument starting with a
 * '-', place it at the end of the command after '--', as in '-- "--tls-cert"" and "Unexpected
 * argument 'rules.yaml'. This command does not take positional arguments", the value raw. `--help`
 * is left to Node's error, which main() answers with the usage.
 */
function strictTokens(config: ParseArgsConfig): NonNullable<ReturnType<typeof parseArgs>['tokens']> {
  try {
    return parseArgs({ ...config, tokens: true }).tokens;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const known = Object.keys(config.options ?? {});
    const tokens = parseArgs({ ...config, strict: false, allowPositionals: true, tokens: true }).tokens;
    if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
      const token = tokens.find((t) => t.kind === 'option' && !known.includes(t.name));
      if (token?.kind === 'option' && token.name !== 'help' && token.name !== 'h') {
        // The option it starts (`--tls-cert`), else one a typo or two away (`--confg`).
        const longs = known.filter((k) => k.length > 1);
        const near = longs.find((k) => token.name.length > 1 && k.startsWith(token.name)) ?? longs.find((k) => editDistance(token.name, k) <= 2);
        const hint = near === undefined ? '' : ` (did you mean --${near}?)`;
        throw new UsageError(`unknown option ${oneLine(token.rawName)}${hint}`);
      }
    }
    const positional = code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL' ? tokens.find((t) => t.kind === 'positional') : undefined;
    if (positional?.kind === 'positional') {
      // `check-config rules.yaml`: where a rules document goes.
      const hint = known.includes('config') && /\.(?:ya?ml|json)$/i.test(positional.value) ? `; a rules document is given as --config ${oneLine(positional.value)}` : '';
      throw new UsageError(`unexpected argument "${oneLine(positional.value)}": this command takes no arguments, only flags${hint}`);
    }
    throw e;
  }
}

/** Levenshtein's distance, for an unknown option's "did you mean". */
function editDistance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) next.push(Math.min((row[j] ?? 0) + 1, (next[j - 1] ?? 0) + 1, (row[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1)));
    row = next;
  }
  return row[b.length] ?? 0;
}

export interface CliSources extends Sources {
  /** The rules, loaded and valid. */
  readonly state: RulesState & { ok: true };
}

export interface CliSourceOptions extends AdapterOptions {
  /** Where the sources log (JSON lines); default: nowhere (the command prints problems itself). */
  readonly logger?: Logger;
  readonly metrics?: Metrics;
  /** Follow a rules file (`serve`). */
  readonly watch?: { readonly log: Log };
  /** A rules file's rules shared with the other workers (`serve --workers`: src/cli/serve-workers.ts). */
  readonly shared?: SharedRules;
  /**
   * At most this many problems of the rules document printed (default: all): `serve`'s stderr is
   * its log (kubectl logs), where 30,000 lines of one bad file drown the rest; check-config lists all.
   */
  readonly maxListedIssues?: number;
}

/**
 * Settings from the environment and `options` (the command's flags), then the token and the rules,
 * as the Lambda reads them. Prints every problem and returns the exit code when they cannot be used:
 * 64 for unusable settings, 1 for an unreadable token, 2 for rules that cannot be read or are invalid.
 * A valid document's warnings are printed too.
 */
export async function openCliSources(io: Io, options: CliSourceOptions): Promise<CliSources | number> {
  let settings: Settings;
  let sources: Sources;
  // Without a logger of the command's own, the lines are dropped, but the `detail` of an error line
  // (the AWS SDK's "Region is missing", "Could not load credentials...") is kept for the message
  // below: the rules state's reason carries only the error's name, since the Lambda shows that
  // reason to every kubectl user in a warning.
  // `--config ""` (an unset shell variable) names no file: said so, not "cannot read rules document
  // : ENOENT"; the exit code of a rules document that cannot be read, as before.
  if (options.configFile?.trim() === '') {
    io.stderr('error: --config names no rules document (it is empty)\n');
    return EXIT.invalidConfig;
  }
  // `--token-file ""` likewise (not "cannot read --token-file : ENOENT"), with the exit code of a
  // token file that cannot be read.
  if (options.tokenFile?.trim() === '') {
    io.stderr('error: --token-file names no file (it is empty)\n');
    return EXIT.failure;
  }
  const details: string[] = [];
  const keepDetail = (line: string): void => {
    if (!line.includes('"detail"')) return;
    const detail: unknown = (JSON.parse(line) as Record<string, unknown>)['detail'];
    if (typeof detail === 'string' && detail !== '') details.push(detail);
  };
  const observability = options.logger !== undefined && options.metrics !== undefined ? { logger: options.logger, metrics: options.metrics } : createObservability({ sink: keepDetail, logLevel: 'ERROR' });
  try {
    settings = readSettings(io.env, options);
    sources = await openSources(settings, { ...observability, ...lazyAwsClients(), env: io.env, ...(options.watch === undefined ? {} : { watch: options.watch }), ...(options.shared === undefined ? {} : { shared: options.shared }) });
  } catch (e) {
    if (!(e instanceof SourceError)) throw e;
    io.stderr(`error: ${terminalLines(e.message)}\n`);
    return e.unreadable ? EXIT.failure : EXIT.usage;
  }
  const state = await sources.rules.current();
  if (!state.ok) {
    sources.watch?.close();
    const detail = details.at(-1);
    // Through terminalLines as well for serve, whose stderr main() leaves as it is (its log lines).
    io.stderr(terminalLines(state.issues === undefined ? `error: ${state.reason}${detail === undefined ? '' : `: ${detail}`}\n` : `error: invalid rules document ${describeRules(settings)}:\n${formatIssues(state.issues, options.maxListedIssues)}\n`));
    return EXIT.invalidConfig;
  }
  if (state.warnings !== undefined) io.stderr(terminalLines(`${formatIssues(state.warnings, options.maxListedIssues)}\n`));
  return { ...sources, state };
}
