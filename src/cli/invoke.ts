/**
 * `image-rewriter invoke [--config FILE] [--quiet] EVENT.json`: run the Lambda handler in-process
 * on one event file (the ones in events/, the same `sam local invoke` uses), with no AWS account
 * and no Docker, and print its answer as pretty JSON: `statusCode`, `headers`, `body` (parsed when
 * it is JSON) and, when the AdmissionReview carries a patch, `decodedPatch`.
 *
 * Settings are read like the Lambda's (src/config/settings.ts), with two differences: no rules at
 * all means the built-in `EXAMPLE_RULES` (the demo's gcr.io -> asia.gcr.io and Docker Hub's
 * official images -> ECR Public), and no token is fine (an offline tool for one event answers no
 * network request). A configured token is checked like on Lambda, and an answer over Lambda's
 * response quota is left out as on Lambda (the object answered unchanged, with a warning). The handler's JSON log lines and EMF metrics go to stderr (none with
 * `--quiet`), so stdout is only the answer. Exit 0 whenever the handler answered, whatever the
 * status (like `sam local invoke`); 1 when the event file cannot be read; 2 for invalid rules;
 * 64 for unusable settings.
 */
import { type Command, EXIT, openCliSources, parseFlags, UsageError } from './common.js';
import { userPath } from './user-path.js';
import { lazyAwsClients } from '../config/aws-clients.js';
import { readUpTo } from '../config/bounded-read.js';
import { describeSystemError } from '../config/system-error.js';
import { where } from '../manifests/documents.js';
import { verifierFor } from '../verify/setup.js';
import { createHandler, LAMBDA_MAX_RESULT_BYTES, type WebhookResult } from '../lambda/handler.js';
import { createObservability, logLevelFromEnv } from '../observability/telemetry.js';

/**
 * An event file larger than this is refused unread: Lambda takes events of at most 6 MB (README,
 * "Sizes"), and a file read whole (`invoke /dev/zero`) took all the memory node could give a string.
 */
export const MAX_EVENT_FILE_BYTES = 64 * 1024 * 1024;

/** The rules `invoke` uses when given none: the demo's rule, and a Docker Hub mirror. */
export const EXAMPLE_RULES = `# Built-in example rules of "image-rewriter invoke".
rules:
  # The original demo: gcr.io/nginx -> asia.gcr.io/nginx
  - name: gcr-to-asia
    match: gcr.io
    replace: asia.gcr.io
  # Docker Hub's official images (nginx, busybox, ...) from ECR Public's copy of them
  - name: docker-hub-official-to-ecr-public
    match: docker.io/library
    replace: public.ecr.aws/docker/library
`;

/** The printed answer: the result, its body parsed, and the patch decoded. */
export function presentResult(result: WebhookResult): Record<string, unknown> {
  let body: unknown = result.body;
  try {
    body = JSON.parse(result.body);
  } catch {
    // not JSON: print it as it is
  }
  const response = typeof body === 'object' && body !== null ? (body as Record<string, unknown>)['response'] : undefined;
  const patch = typeof response === 'object' && response !== null ? (response as Record<string, unknown>)['patch'] : undefined;
  const decodedPatch: unknown = typeof patch === 'string' ? JSON.parse(Buffer.from(patch, 'base64').toString('utf8')) : undefined;
  return { statusCode: result.statusCode, headers: result.headers, body, ...(decodedPatch === undefined ? {} : { decodedPatch }) };
}

export const command: Command = async (args, io) => {
  const { values, positionals } = parseFlags({
    args,
    options: { config: { type: 'string', short: 'c' }, quiet: { type: 'boolean', short: 'q' } },
    allowPositionals: true,
    strict: true,
  });
  const [file, ...extra] = positionals;
  if (file === undefined || extra.length > 0) throw new UsageError('invoke needs exactly one EVENT.json (for example events/rest-pod-v1beta1-demo.json)');

  const { logger, metrics } = createObservability({
    sink: values.quiet === true ? () => undefined : (line) => { io.stderr(`${line}\n`); },
    logLevel: logLevelFromEnv(io.env),
  });
  const sources = await openCliSources(io, {
    configFile: values.config === undefined ? undefined : userPath(io.env, 'invoke', values.config),
    tokenRequired: false,
    fallbackRules: { text: EXAMPLE_RULES, source: 'built-in example rules' },
    logger,
    metrics,
  });
  if (typeof sources === 'number') return sources;
  if (sources.settings.rules.kind === 'inline' && sources.settings.rules.source !== undefined && values.quiet !== true) {
    io.stderr('note: no --config and no REWRITE_RULES: using the built-in example rules (gcr.io -> asia.gcr.io, docker.io/library -> public.ecr.aws/docker/library)\n');
  }

  let event: unknown;
  let text = '';
  try {
    // A byte order mark is not JSON, but editors on Windows (and PowerShell 5's Out-File) write one:
    // read past it, as rules documents are read.
    const bytes = await readUpTo(userPath(io.env, 'invoke', file), MAX_EVENT_FILE_BYTES + 1);
    if (bytes.length > MAX_EVENT_FILE_BYTES) throw new RangeError(`larger than ${String(MAX_EVENT_FILE_BYTES)} bytes (a Lambda event is at most 6 MB)`);
    text = bytes.toString('utf8').replace(/^\uFEFF/, '');
    event = JSON.parse(text);
  } catch (e) {
    const reason = e instanceof SyntaxError ? `not valid JSON: ${jsonProblem(e, text)}` : e instanceof RangeError ? e.message : describeSystemError(e);
    io.stderr(`error: cannot read event ${file}: ${reason}\n`);
    return EXIT.failure;
  }

  // Lambda's response quota too: an answer the Lambda cannot return is left out here as there.
  const handler = createHandler({ rules: sources.rules, token: sources.token, logger, metrics, verifier: verifierFor(sources.settings.verify, lazyAwsClients()), maxResultBytes: LAMBDA_MAX_RESULT_BYTES });
  const result = await handler(event);
  io.stdout(`${JSON.stringify(presentResult(result), null, 2)}\n`);
  return EXIT.ok;
};

/**
 * V8's words for a JSON.parse error, where it is as a line and column: without the excerpt of the
 * text some messages quote (`Unexpected token 'x', "{..." is not valid JSON`), which can be long.
 */
function jsonProblem(e: SyntaxError, text: string): string {
  const position = /at position (\d+)/.exec(e.message)?.[1];
  const what = e.message.replace(/, ".*" is not valid JSON$/s, '').replace(/ in JSON at position \d+.*$/s, '');
  return position === undefined ? what : `${what} at ${where(text, Number(position))}`;
}
