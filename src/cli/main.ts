/**
 * The `image-rewriter` command line (dist/cli.js). A thin adapter: it reads files and arguments,
 * calls the same core as the Lambda handler, and writes results. Streams and environment are
 * injected so tests drive `main` directly. Unknown options are errors (typos must fail).
 */
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { formatIssues, parseRules } from '../config/load.js';
import type { Rewriter } from '../core/rules.js';
import { explainImage } from '../core/explain.js';
import { VERSION } from './version.js';

export interface Io {
  readonly stdout: (s: string) => void;
  readonly stderr: (s: string) => void;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly readStdin: () => Promise<string>;
}

/** Exit codes. */
export const EXIT = { ok: 0, failure: 1, usage: 64, invalidConfig: 2 } as const;

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export type Command = (args: string[], io: Io) => Promise<number>;

const HELP = `image-rewriter ${VERSION}: rewrite container image references in Kubernetes admission requests

Usage:
  image-rewriter explain --config FILE [--namespace NS] IMAGE...   what each image becomes, one JSON object per line
                                                                   (IMAGE "-" reads images from stdin, one per line)
  image-rewriter check-config --config FILE [--strict]            validate a rules document; lists every problem
  image-rewriter serve --config FILE --listen ADDR --tls-cert-file F --tls-private-key-file F
        [--token-file F] [--max-body-bytes N]                     local HTTPS webhook (POST /mutate[/TOKEN], GET /healthz);
                                                                   the token also comes from WEBHOOK_TOKEN
  image-rewriter webhook-config --url URL [--ca-bundle FILE] [--timeout-seconds N] [--name NAME]
        [--admission-review-versions v1,v1beta1]                   print the MutatingWebhookConfiguration
  image-rewriter invoke [--config FILE] EVENT.json                 run the Lambda handler on an event file
  image-rewriter version                                           print the version
  image-rewriter help [COMMAND]

Without --config, the rules document is read from REWRITE_RULES (inline YAML or JSON).
Exit codes: 0 ok, 1 failure, 2 invalid rules document, 64 usage error.
Rules reference: https://github.com/image-rewriter/image-rewriter#rules-reference
`;

/** Load and compile rules from --config or REWRITE_RULES; print issues and return undefined when invalid. */
export async function loadRewriter(
  configPath: string | undefined,
  io: Io,
): Promise<{ rewriter: Rewriter; warnings: string } | undefined> {
  let text: string;
  let source: string;
  if (configPath !== undefined) {
    source = configPath;
    try {
      text = await readFile(configPath, 'utf8');
    } catch (e) {
      io.stderr(`error: cannot read rules document ${configPath}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}\n`);
      return undefined;
    }
  } else if (io.env['REWRITE_RULES'] !== undefined) {
    source = 'REWRITE_RULES';
    text = io.env['REWRITE_RULES'];
  } else {
    throw new UsageError('--config FILE is required (or set REWRITE_RULES)');
  }
  const result = parseRules(text, io.env);
  if (!result.ok) {
    io.stderr(`error: invalid rules document ${source}:\n${formatIssues(result.issues)}\n`);
    return undefined;
  }
  return { rewriter: result.rewriter, warnings: result.warnings.length > 0 ? formatIssues(result.warnings) : '' };
}

const explain: Command = async (args, io) => {
  const { values, positionals } = parseArgs({
    args,
    options: { config: { type: 'string', short: 'c' }, namespace: { type: 'string', short: 'n' } },
    allowPositionals: true,
    strict: true,
  });
  if (positionals.length === 0) throw new UsageError('explain needs at least one IMAGE (or "-" to read them from stdin)');
  const loaded = await loadRewriter(values.config, io);
  if (loaded === undefined) return EXIT.invalidConfig;
  const images: string[] = [];
  for (const p of positionals) {
    if (p === '-') images.push(...(await io.readStdin()).split(/\r?\n/).filter((l) => l.trim() !== ''));
    else images.push(p);
  }
  for (const image of images) {
    io.stdout(`${JSON.stringify(explainImage(loaded.rewriter, image, values.namespace))}\n`);
  }
  return EXIT.ok;
};

const checkConfig: Command = async (args, io) => {
  const { values } = parseArgs({
    args,
    options: { config: { type: 'string', short: 'c' }, strict: { type: 'boolean' } },
    allowPositionals: false,
    strict: true,
  });
  const loaded = await loadRewriter(values.config, io);
  if (loaded === undefined) return EXIT.invalidConfig;
  const { rewriter, warnings } = loaded;
  if (warnings !== '') io.stderr(`${warnings}\n`);
  io.stdout(`ok: ${rewriter.rules.length} rule(s), ${rewriter.exclude.length} exclusion(s)\n`);
  return warnings !== '' && values.strict === true ? EXIT.invalidConfig : EXIT.ok;
};

const version: Command = (_args, io) => {
  io.stdout(`${VERSION}\n`);
  return Promise.resolve(EXIT.ok);
};

const help: Command = (_args, io) => {
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
  version,
  '--version': version,
  help,
  '--help': help,
  '-h': help,
};

/** Run the CLI; returns the exit code. */
export async function main(argv: readonly string[], io: Io): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined) {
    io.stderr(HELP);
    return EXIT.usage;
  }
  const command = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (command === undefined) {
    io.stderr(`error: unknown command "${name}"\n\n${HELP}`);
    return EXIT.usage;
  }
  try {
    return await command(rest, io);
  } catch (e) {
    if (e instanceof UsageError || (e as NodeJS.ErrnoException).code?.startsWith('ERR_PARSE_ARGS') === true) {
      io.stderr(`error: ${(e as Error).message}\nRun "image-rewriter help" for usage.\n`);
      return EXIT.usage;
    }
    io.stderr(`error: ${(e as Error).message}\n`);
    return EXIT.failure;
  }
}

