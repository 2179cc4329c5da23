/**
 * `image-rewriter invoke [--config FILE] [--quiet] EVENT.json`: run the Lambda handler in-process
 * on one event file (the ones in events/, the same `sam local invoke` uses), with no AWS account
 * and no Docker, and print its answer as pretty JSON: `statusCode`, `headers`, `body` (parsed when
 * it is JSON) and, when the AdmissionReview carries a patch, `decodedPatch`.
 *
 * Rules: `--config FILE`, else `REWRITE_RULES`, else the built-in `EXAMPLE_RULES` (the demo's
 * gcr.io -> asia.gcr.io and Docker Hub's official images -> ECR Public). `WEBHOOK_TOKEN`, when set,
 * is checked like on Lambda. The handler's JSON log lines and EMF metrics go to stderr (none with
 * `--quiet`), so stdout is only the answer. Exit 0 whenever the handler answered, whatever the
 * status (like `sam local invoke`); 1 when the event file cannot be read; 2 for invalid rules.
 */
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import type { LogLevel } from '@aws-lambda-powertools/logger/types';
import { type Command, EXIT, loadRewriter, UsageError } from './main.js';
import { formatIssues, parseRules } from '../config/load.js';
import { fixedRules } from '../config/sources.js';
import type { Rewriter } from '../core/rules.js';
import { createHandler, type WebhookResult } from '../lambda/handler.js';
import { createObservability } from '../observability/telemetry.js';

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

const LOG_LEVELS = ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR', 'CRITICAL', 'SILENT'] as const;

function logLevelFrom(value: string | undefined): LogLevel {
  const v = value?.toUpperCase();
  return LOG_LEVELS.find((l) => l === v) ?? 'INFO';
}

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
  const { values, positionals } = parseArgs({
    args,
    options: { config: { type: 'string', short: 'c' }, quiet: { type: 'boolean', short: 'q' } },
    allowPositionals: true,
    strict: true,
  });
  const [file, ...extra] = positionals;
  if (file === undefined || extra.length > 0) throw new UsageError('invoke needs exactly one EVENT.json (for example events/rest-pod-v1beta1-demo.json)');

  let rewriter: Rewriter;
  let source: string;
  if (values.config !== undefined || io.env['REWRITE_RULES'] !== undefined) {
    const loaded = await loadRewriter(values.config, io);
    if (loaded === undefined) return EXIT.invalidConfig;
    if (loaded.warnings !== '') io.stderr(`${loaded.warnings}\n`);
    rewriter = loaded.rewriter;
    source = values.config ?? 'REWRITE_RULES';
  } else {
    const example = parseRules(EXAMPLE_RULES, io.env);
    if (!example.ok) throw new Error(`the built-in example rules are invalid:\n${formatIssues(example.issues)}`);
    rewriter = example.rewriter;
    source = 'built-in example rules';
    if (values.quiet !== true) io.stderr('note: no --config and no REWRITE_RULES: using the built-in example rules (gcr.io -> asia.gcr.io, docker.io/library -> public.ecr.aws/docker/library)\n');
  }

  let event: unknown;
  try {
    event = JSON.parse(await readFile(file, 'utf8'));
  } catch (e) {
    const reason = e instanceof SyntaxError ? 'not valid JSON' : ((e as NodeJS.ErrnoException).code ?? (e as Error).message);
    io.stderr(`error: cannot read event ${file}: ${reason}\n`);
    return EXIT.failure;
  }

  const token = io.env['WEBHOOK_TOKEN']?.trim();
  const { logger, metrics } = createObservability({
    sink: values.quiet === true ? () => undefined : (line) => { io.stderr(`${line}\n`); },
    logLevel: logLevelFrom(io.env['POWERTOOLS_LOG_LEVEL'] ?? io.env['LOG_LEVEL']),
  });
  const handler = createHandler({ rules: fixedRules(rewriter, source), token: token === '' ? undefined : token, logger, metrics });
  const result = await handler(event);
  io.stdout(`${JSON.stringify(presentResult(result), null, 2)}\n`);
  return EXIT.ok;
};
