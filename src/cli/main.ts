/**
 * The `image-rewriter` command line's dispatcher (dist/cli.js, through ./bin.ts): `explain` and
 * `check-config` themselves, and every other command in its own file, loaded with import() when it
 * runs. A thin adapter: it reads files and arguments, calls the same core as the Lambda handler,
 * and writes results. Streams and environment are injected so tests drive `main` directly.
 * Unknown options are errors (typos must fail).
 */
import { explainImage, namespaceLimitedRules } from '../core/explain.js';
import { jsonLine, oneLine, terminalLines } from '../core/json.js';
import { AUTO_IMAGE } from '../core/workload.js';
import { type Command, EXIT, type Io, isNotUtf8, namespaceFlag, openCliSources, parseFlags, UsageError } from './common.js';
import { stdinWords } from './stdin-words.js';
import { VERSION } from './version.js';

export { EXIT, type Io } from './common.js';

const HELP = `image-rewriter ${VERSION}: rewrite container image references in Kubernetes admission requests

Usage:
  image-rewriter explain --config FILE [--namespace NS] IMAGE...   what each image becomes, one JSON object per line
                                                                   (IMAGE "-" reads images from stdin, separated by lines, spaces or tabs)
  image-rewriter check-config --config FILE [--strict]             validate a rules document; lists every problem
  image-rewriter serve --config FILE --listen ADDR --tls-cert-file F --tls-private-key-file F
        [--token-file F | --allow-unauthenticated] [--max-body-bytes N] [--workers N]
        [--metrics-listen ADDR]                                    local HTTPS webhook (POST /mutate/TOKEN, GET /healthz);
                                                                   the token also comes from WEBHOOK_TOKEN,
                                                                   WEBHOOK_TOKEN_PARAMETER (SSM) or WEBHOOK_TOKEN_SECRET_ARN;
                                                                   --workers: processes sharing the port (default: the
                                                                   CPUs); --metrics-listen: Prometheus GET /metrics, plain HTTP
  image-rewriter webhook-config (--url URL | --service NAMESPACE/NAME[:PORT] --token TOKEN)
        [--ca-bundle FILE] [--timeout-seconds N] [--name NAME]     print the MutatingWebhookConfiguration (--service: serve
        [--admission-review-versions v1,v1beta1]                   behind a Service, called at /mutate/TOKEN, port 443 by
        [--scope pods|all] [--config FILE]                         default; pods: Pods only, the default; --config: matchConditions;
        [--failure-policy Ignore|Fail] [--opt-in]                  Fail: refused while the webhook is down, default Ignore;
                                                                   --opt-in: only namespaces labelled image-rewriter.io/rewrite=true)
  image-rewriter invoke [--config FILE] [--quiet] EVENT.json       run the Lambda handler on an event file
                                                                   (--quiet: no log lines or metrics on stderr)
  image-rewriter render [--config FILE] [-f FILE|-] [--namespace NS] [--annotate] [--scope all|pods] [--check]
                                                                   rewrite the images of manifests (stdin by default)
  image-rewriter audit [--config FILE] [--kubeconfig FILE | -f FILE|-] [-o table|json] [--scope all|pods]
        [-n NS] [--page-size N] [--include-finished]               list Pods and workloads whose images would be rewritten
        [--webhook-config NAME]                                    (finished Pods only with --include-finished; not what the
                                                                   webhook configuration NAME, default image-rewriter, skips)
  image-rewriter version                                           print the version
  image-rewriter help [COMMAND]

Without --config, the rules document is read from REWRITE_RULES (inline YAML or JSON) or the SSM
parameter named by REWRITE_RULES_PARAMETER. serve refuses to start without a token unless
--allow-unauthenticated (or WEBHOOK_ALLOW_UNAUTHENTICATED=true); the other commands need none, but
read and check one that is configured, except webhook-config, which reads none (--service takes
the one to register as --token).
Exit codes: 0 ok, 1 failure, 2 invalid rules document, 64 usage error or settings that cannot be used;
render and audit: 2 on any other error but a usage error (64), and 1 when something would change
(render with --check).
Rules reference: https://github.com/image-rewriter/image-rewriter#rules-reference
`;

/** `explain -` asks whether stdout's reader has caught up once every this many answers (a check costs a promise). */
const DRAIN_EVERY = 256;

/** `readStdin`'s text as one chunk of bytes, for an Io without `stdinChunks`. */
async function* textChunks(readStdin: () => Promise<string>): AsyncGenerator<Uint8Array> {
  yield Buffer.from(await readStdin());
}

const explain: Command = async (args, io) => {
  const { values, positionals } = parseFlags({
    args,
    options: { config: { type: 'string', short: 'c' }, namespace: { type: 'string', short: 'n' } },
    allowPositionals: true,
    strict: true,
  });
  if (positionals.length === 0) throw new UsageError('explain needs at least one IMAGE (or "-" to read them from stdin)');
  const namespace = namespaceFlag(values.namespace);
  const loaded = await openCliSources(io, { configFile: values.config, tokenRequired: false });
  if (typeof loaded === 'number') return loaded;
  // Without --namespace, an image is explained for an object of no known namespace, where rules
  // limited to `namespaces` never apply: a note names those that would take one of the images.
  const limitedRule = namespace === undefined ? namespaceLimitedRules(loaded.state.rewriter) : undefined;
  const skipped = new Set<string>();
  const seen = { placeholder: false };
  const explainOne = (image: string): void => {
    const answer = explainImage(loaded.state.rewriter, image, namespace);
    io.stdout(`${jsonLine(answer)}\n`);
    const rule = limitedRule?.(image);
    if (rule !== undefined) skipped.add(rule.name);
    if (image === AUTO_IMAGE && answer.rewritten !== image) seen.placeholder = true;
  };
  for (const p of positionals) {
    if (p !== '-') {
      explainOne(p);
      continue;
    }
    // Each image answered as it arrives, waiting for a slow reader of the answers now and then
    // (./stdin-words.ts): what is held stays small whatever the length of the list.
    const chunks = io.stdinChunks?.() ?? textChunks(io.readStdin);
    let sinceWait = 0;
    try {
      for await (const image of stdinWords(chunks)) {
        // No one reads the answers any more (`yes IMAGE | explain - | head -1`): stop reading.
        if (io.stdoutClosed?.() === true) break;
        explainOne(image);
        if (++sinceWait >= DRAIN_EVERY && io.stdoutDrained !== undefined) {
          sinceWait = 0;
          await io.stdoutDrained();
        }
      }
    } catch (e) {
      if (!isNotUtf8(e)) throw e;
      io.stderr('error: stdin is not UTF-8 text (one image reference per line)\n');
      return EXIT.failure;
    }
  }
  if (skipped.size > 0) {
    const names = [...skipped].slice(0, 3).map((n) => JSON.stringify(n)).join(', ') + (skipped.size > 3 ? ` and ${skipped.size - 3} more` : '');
    const text = skipped.size === 1 ? `rule ${names} applies only in the namespaces it lists` : `rules ${names} apply only in the namespaces they list`;
    io.stderr(`note: ${text}, where an image above would be rewritten: give --namespace NS to explain the images of a Pod in NS\n`);
  }
  // The answer is the reference's; as a container's image, `auto` is no image (docs/design.md,
  // "Rewrite semantics"): said, or a check of a gateway manifest's images against explain misleads.
  if (seen.placeholder) {
    io.stderr(`note: "${AUTO_IMAGE}" as a container's or init container's image is the placeholder of Istio's gateway injection: the webhook, render and audit leave it as it is (the injector replaces it with the proxy image, which they rewrite)\n`);
  }
  return EXIT.ok;
};

const checkConfig: Command = async (args, io) => {
  const { values } = parseFlags({
    args,
    options: { config: { type: 'string', short: 'c' }, strict: { type: 'boolean' } },
    allowPositionals: false,
    strict: true,
  });
  const loaded = await openCliSources(io, { configFile: values.config, tokenRequired: false });
  if (typeof loaded === 'number') return loaded;
  const { rewriter, warnings } = loaded.state;
  if (warnings !== undefined && values.strict === true) {
    // The warnings are printed above (openCliSources); with --strict they fail the check.
    io.stderr(`error: --strict: the warnings above count as errors\n`);
    return EXIT.invalidConfig;
  }
  io.stdout(`ok: ${rewriter.rules.length} rule(s), ${rewriter.exclude.length} exclusion(s)\n`);
  return EXIT.ok;
};

const version: Command = (args, io) => {
  // `version --help` prints the usage, as `--help` does after every other command.
  if (args.length === 1 && (args[0] === '--help' || args[0] === '-h')) {
    io.stdout(HELP);
    return Promise.resolve(EXIT.ok);
  }
  if (args.length > 0) throw new UsageError(`version takes no arguments: ${oneLine(args.join(' '))}`);
  io.stdout(`${VERSION}\n`);
  return Promise.resolve(EXIT.ok);
};

const help: Command = (args, io) => {
  const [topic, ...more] = args;
  if (more.length > 0) throw new UsageError(`help takes one command name: ${oneLine(args.join(' '))}`);
  if (topic !== undefined && !Object.hasOwn(COMMANDS, topic)) {
    throw new UsageError(`unknown command "${oneLine(topic)}": help takes one of ${Object.keys(COMMANDS).filter((c) => !c.startsWith('-')).join(', ')}`);
  }
  io.stdout(HELP);
  return Promise.resolve(EXIT.ok);
};

/** Commands that pull in more code (TLS server, handler) load on first use. */
const lazy = (load: () => Promise<{ command: Command }>): Command => async (args, io) => (await load()).command(args, io);

const COMMANDS: Readonly<Record<string, Command>> = {
  explain,
  'check-config': checkConfig,
  serve: lazy(() => import('./serve.js')),
  'webhook-config': lazy(() => import('./webhook-config.js')),
  invoke: lazy(() => import('./invoke.js')),
  render: lazy(() => import('./render.js')),
  audit: lazy(() => import('./audit.js')),
  version,
  '--version': version,
  help,
  '--help': help,
  '-h': help,
};

/** Commands whose exit code 1 means "something would change" (a CI gate), so that every error is 2. */
const REPORTS_CHANGES: ReadonlySet<string> = new Set(['render', 'audit']);

/** The exit code of command `name` when it failed for a reason no one foresaw: never a CI gate's 1. */
export const failureExit = (name: string | undefined): number => (name !== undefined && REPORTS_CHANGES.has(name) ? EXIT.invalidConfig : EXIT.failure);

/** Run the CLI; returns the exit code. */
export async function main(argv: readonly string[], io: Io): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined) {
    io.stderr(HELP);
    return EXIT.usage;
  }
  const command = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (command === undefined) {
    io.stderr(`error: unknown command "${oneLine(name)}"\n\n${HELP}`);
    return EXIT.usage;
  }
  // What commands write to stderr quotes paths, flags' values and documents: no escape sequence, no
  // invisible character raw (json.ts, terminalLines). Not serve's: its log lines are JSON already.
  const out: Io = name === 'serve' ? io : { ...io, stderr: (s) => { io.stderr(terminalLines(s)); } };
  try {
    return await command(rest, out);
  } catch (e) {
    // `image-rewriter render --help`: the usage, as for `help`. Only where the command's parser
    // read it as an option: not after `--`, not as an option's value (`-f -h`).
    if ((e as NodeJS.ErrnoException).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' && /'(?:--help|-h)'/.test((e as Error).message)) return help([], io);
    if (e instanceof UsageError || (e as NodeJS.ErrnoException).code?.startsWith('ERR_PARSE_ARGS') === true) {
      io.stderr(`error: ${terminalLines((e as Error).message)}\nRun "image-rewriter help" for usage.\n`);
      return EXIT.usage;
    }
    io.stderr(`error: ${terminalLines((e as Error).message)}\n`);
    // Their 1 says that something would change: an error no one foresaw must not say that.
    return failureExit(name);
  }
}

