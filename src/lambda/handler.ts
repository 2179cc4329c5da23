/**
 * The webhook's HTTP adapter for Lambda: an API Gateway REST proxy event (the product's
 * endpoint), an HTTP API payload 2.0 event or a Lambda Function URL event in; the matching result
 * out. It only translates: check the token (before the body is decoded), decode the body, review it
 * (./verify-step.ts: the pure decide and render, with the existence checks of `verify` rules
 * between them), encode the answer. Everything expensive (reading and compiling the rules) is
 * done by the `RulesProvider` once per container and on refresh, never per request.
 *
 * Answers (always `Content-Type: application/json`):
 * - 200 the AdmissionReview (docs/design.md, "The admission answer"); when the rules cannot be loaded, `allowed: true` without a
 *   patch and a warning saying why (fail open, like the webhook's failurePolicy Ignore); so too, on
 *   Lambda (`maxResultBytes`), for an object whose answer would be over Lambda's response quota;
 * - 400 `{"message"}` with a fixed message for a body that is not an AdmissionReview (never echoed);
 * - 401 `{"message":"unauthorized"}` when `token` is set and is not the last path segment (during a
 *   rotation either of its two tokens is; a review called with the previous one logs `previousToken`);
 * - 405 for methods other than POST (GET `/healthz`, after an HTTP API stage's name, answers 200 `{"status":"ok"}` when good
 *   rules are in force, at once even while a refresh is due, 503 otherwise, without a token: for `serve` and probes);
 * - 500 `{"message":"internal error"}` for anything unexpected, logged, never thrown to the runtime.
 */
import type { Context } from 'aws-lambda';
import type { RulesProvider } from '../config/sources.js';
import { MAX_TOKENS, sameToken, UNAUTHORIZED_REASON } from '../config/token-check.js';
import { type AdmissionReviewAnswer, type ReviewReport, WARNING_PREFIX } from '../core/admission.js';
import { escapeLineUnsafe, isRecord } from '../core/json.js';
import { answerJson } from '../core/render.js';
import { fitWarning } from '../core/warning-text.js';
import type { Verifier } from '../verify/verifier.js';
import { answerTooLargeReason, isDenied, reviewVerified } from './verify-step.js';
import type { Rewriter } from '../core/rules.js';
import { clip, flushMetrics, type LineHold, type Logger, type Metrics, type Outcome, recordOutcome, recordRulesStale, recordVerify, REVIEW_LOG_MESSAGE, reviewFields, usualReviewFieldsJson, type VerifyCounts } from '../observability/telemetry.js';

/**
 * Largest request body accepted, after base64 decoding: 6 MiB. The API server takes objects of
 * at most 3 MiB (kube-apiserver's request body limit) and an UPDATE review carries the object and
 * the old object, so a real AdmissionReview stays under about 6 MiB; a synchronous Lambda
 * invocation cannot carry more than 6 MB anyway. For `serve` it bounds what a client can make us parse.
 */
export const DEFAULT_MAX_BODY_BYTES = 6 * 1024 * 1024;

/**
 * Lambda's quota for a synchronous invocation's response: the result as the runtime serializes it
 * (JSON, the answer JSON-escaped again as `body`), in bytes. Over it the invocation fails (API
 * Gateway answers 502) and the API server applies the failurePolicy. Only the Lambda entry sets it.
 */
export const LAMBDA_MAX_RESULT_BYTES = 6_291_556;

const HEALTH_PATH = '/healthz';

/** Every fixed message a client can get. */
export const MESSAGES = {
  unsupportedEvent: 'unsupported event: expected an API Gateway REST proxy, HTTP API (payload 2.0) or Lambda Function URL event',
  bodyNotString: 'unsupported event: body must be a string (the AdmissionReview as JSON text, or its base64 with isBase64Encoded: true)',
  bareReview: 'unsupported event: an AdmissionReview itself, not an HTTP event: use a Lambda proxy integration, or send the review as the body of a proxy event (events/)',
  unauthorized: 'unauthorized',
  methodNotAllowed: 'method not allowed: POST an AdmissionReview',
  empty: 'request body is empty: expected an AdmissionReview',
  tooLarge: 'request body is too large',
  notBase64: 'request body is marked base64-encoded but is not valid base64',
  notUtf8: 'request body is not valid UTF-8',
  compressed: 'request body is gzip-compressed: send the AdmissionReview uncompressed',
  notJson: 'request body is not valid JSON: expected an AdmissionReview',
  internal: 'internal error',
} as const;

export interface HandlerDeps {
  readonly rules: RulesProvider;
  /**
   * When set, requests must carry it as the last path segment (`/mutate/<token>`); during a
   * rotation, either of two tokens (the current one, then the previous one).
   */
  readonly token: string | readonly string[] | undefined;
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** Default `DEFAULT_MAX_BODY_BYTES`. */
  readonly maxBodyBytes?: number;
  /**
   * Largest result (serialized as the Lambda runtime does) a review may answer with; a larger one
   * is answered unchanged with a warning instead (`answerTooLargeReason`). Unset (serve, which has no such limit): no limit.
   */
  readonly maxResultBytes?: number;
  /** Existence checks for rules with `verify: true` (src/verify/setup.ts); without it their rewrites are applied unchecked (every entry point passes one). */
  readonly verifier?: Verifier;
  /**
   * The Observability's `output`: held at the end of an invocation around its kept review line and
   * its EMF document, so they reach stdout in one write. Without it, they are written apart.
   */
  readonly output?: LineHold;
}

/** The result for every event shape: a REST proxy result and a payload 2.0 structured result alike. */
export interface WebhookResult {
  readonly statusCode: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
  readonly isBase64Encoded: false;
}

/**
 * Lambda always passes a context; a caller that has none (a test, a local runner) may pass
 * undefined or null: the log lines then carry no context fields.
 */
export type WebhookHandler = (event: unknown, context?: Context | null) => Promise<WebhookResult>;

/** The parts of an event the webhook uses. */
export interface HttpRequest {
  readonly shape: 'rest' | 'v2';
  readonly method: string;
  readonly path: string;
  readonly pathToken: string | undefined;
  readonly body: string | undefined;
  readonly base64: boolean;
  readonly sourceIp: string | undefined;
}

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
/** A payload 2.0 path without its HTTP API stage: one but `$default` starts the path (`/prod/healthz`); a REST path has none. */
const withoutStage = (path: string, stage = '$default'): string => (stage !== '$default' && stage !== '' && `${path}/`.startsWith(`/${stage}/`) ? path.slice(stage.length + 1) || '/' : path);

/** Recognize the event by its shape; undefined when it is none of the three. */
export function parseEvent(event: unknown): HttpRequest | undefined {
  if (!isRecord(event)) return undefined;
  const body = event['body'];
  if (body !== undefined && body !== null && typeof body !== 'string') return undefined;
  const rc = isRecord(event['requestContext']) ? event['requestContext'] : undefined;
  const http = isRecord(rc?.['http']) ? rc['http'] : undefined;
  const params = isRecord(event['pathParameters']) ? event['pathParameters'] : undefined;
  const pathToken = str(params?.['token']);
  const text = body ?? undefined;
  const base64 = event['isBase64Encoded'] === true;
  // Literals with every field (no `...common`: a spread into a literal takes V8's slow path).
  if (event['version'] === '2.0' || http !== undefined) {
    const method = str(http?.['method']);
    const path = str(event['rawPath']) ?? str(http?.['path']);
    if (method === undefined || path === undefined) return undefined;
    return { shape: 'v2', method: method.toUpperCase(), path: withoutStage(path, str(rc?.['stage'])), sourceIp: str(http?.['sourceIp']), pathToken, body: text, base64 };
  }
  const method = str(event['httpMethod']);
  const path = str(event['path']);
  if (method === undefined || path === undefined) return undefined;
  const identity = isRecord(rc?.['identity']) ? rc['identity'] : undefined;
  return { shape: 'rest', method: method.toUpperCase(), path, sourceIp: str(identity?.['sourceIp']), pathToken, body: text, base64 };
}

/** The token a request carries: `pathParameters.token`, else the last non-empty path segment. */
function requestToken(req: HttpRequest): string {
  return req.pathToken ?? req.path.split('/').filter((s) => s !== '').at(-1) ?? '';
}

/**
 * Milliseconds on a monotonic clock, for `durationMs`. Not `performance.now()`: the first use of the
 * `performance` global loads node:perf_hooks, a measurable part of the first request of a cold
 * start (docs/performance.md, "Figures behind the comments").
 */
const nowMs = (): number => Number(process.hrtime.bigint()) / 1e6;

/** The log line's `durationMs`: milliseconds since `started` (a `nowMs`), to a tenth. */
const durationMs = (started: number): number => Math.round((nowMs() - started) * 10) / 10;

/** What a presented token matched: the current token (or none is configured), the previous one during a rotation, or neither. */
export type TokenMatch = 'current' | 'previous' | undefined;

/**
 * What a presented path token matches (always `current` when no token is configured), in a time
 * that depends only on the configured tokens' lengths (`sameToken`): during a rotation both are
 * compared, whichever matches.
 */
export function tokenMatch(token: string | readonly string[] | undefined): (presented: string) => TokenMatch {
  if (token === undefined) return () => 'current';
  const [current = '', previous] = typeof token === 'string' ? [token] : token;
  if (previous === undefined) return (presented) => (sameToken(presented, current) ? 'current' : undefined);
  return (presented) => {
    const isCurrent = sameToken(presented, current);
    const isPrevious = sameToken(presented, previous);
    return isCurrent ? 'current' : isPrevious ? 'previous' : undefined;
  };
}

/** Whether a presented path token is accepted (`tokenMatch`). serve uses it to refuse a wrong token before it reads the body. */
export function tokenMatcher(token: string | readonly string[] | undefined): (presented: string) => boolean {
  const match = tokenMatch(token);
  return (presented) => match(presented) !== undefined;
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const utf8 = new TextDecoder('utf-8', { fatal: true });

type Decoded = { readonly ok: true; readonly text: string } | { readonly ok: false; readonly message: string };

function decodeBody(body: string | undefined, base64: boolean, max: number): Decoded {
  if (body === undefined || body === '') return { ok: false, message: MESSAGES.empty };
  let text: string;
  if (base64) {
    const compact = body.replace(/\s+/g, '');
    if (compact.length > Math.ceil(max / 3) * 4) return { ok: false, message: MESSAGES.tooLarge };
    if (compact.length % 4 === 1 || !BASE64.test(compact)) return { ok: false, message: MESSAGES.notBase64 };
    const bytes = Buffer.from(compact, 'base64');
    if (bytes.length > max) return { ok: false, message: MESSAGES.tooLarge };
    try {
      text = utf8.decode(bytes);
    } catch {
      // gzip's magic number (its second byte is never valid UTF-8): a body sent with
      // `Content-Encoding: gzip`, which no front door decompresses for a proxy integration.
      return { ok: false, message: bytes[0] === 0x1f && bytes[1] === 0x8b ? MESSAGES.compressed : MESSAGES.notUtf8 };
    }
  } else {
    // A UTF-16 unit takes 1 to 3 UTF-8 bytes: count the bytes only when the length cannot decide.
    if (body.length > max || (body.length * 3 > max && Buffer.byteLength(body, 'utf8') > max)) return { ok: false, message: MESSAGES.tooLarge };
    // A byte order mark is dropped, as TextDecoder drops it from a base64 body (docs/reliability.md).
    text = body.charCodeAt(0) === 0xfeff ? body.slice(1) : body;
  }
  // Trimmed only when its first character may be white space: a copy of the body otherwise.
  const first = text.charCodeAt(0);
  if ((first <= 0x20 || first >= 0x7f) && text.trim() === '') return { ok: false, message: MESSAGES.empty };
  return { ok: true, text };
}

function reply(statusCode: number, body: unknown, allow?: string): WebhookResult {
  return replyText(statusCode, JSON.stringify(body), allow);
}

function replyText(statusCode: number, body: string, allow?: string): WebhookResult {
  // A literal per reply (no spread of extra headers: V8's slow path); callers may own the object.
  const headers: Record<string, string> = { 'Content-Type': 'application/json' };
  if (allow !== undefined) headers['Allow'] = allow;
  return { statusCode, headers, body, isBase64Encoded: false };
}

/** Rewrites nothing: used to answer (allowed, no patch) while the rules are not loaded. */
const NO_RULES: Rewriter = Object.freeze({
  rules: [],
  exclude: [],
  allowOptOut: true,
  rewrite: (image: string) => ({ kind: 'unchanged', image, reason: 'no-match' }) as const,
});

/** The first warning of an answer left without its rewrites, fitted (the reason may be of any length). */
const notRewritten = (reason: string): string => fitWarning([`${WARNING_PREFIX}images not rewritten: `, { text: reason, level: 2 }]);

/** The bytes of a 200 result besides its body's text, whose JSON takes at most 6 bytes per UTF-16 unit (a lone surrogate's `\udXXX`). */
const RESULT_ENVELOPE_BYTES = JSON.stringify(replyText(200, '')).length;

/** The size of the 200 result of `text` as the Lambda runtime serializes it, when it may exceed `max` (a length check otherwise); else 0. */
function resultBytesOver(text: string, max: number): number {
  if (RESULT_ENVELOPE_BYTES + text.length * 6 <= max) return 0;
  const bytes = Buffer.byteLength(JSON.stringify(replyText(200, text)));
  return bytes > max ? bytes : 0;
}

function outcomeOf(answer: AdmissionReviewAnswer, report: ReviewReport): Outcome {
  if (report.skipped !== undefined) return 'skipped';
  return answer.response.patch === undefined ? 'unchanged' : 'patched';
}

/** The log fields of the existence checks of a review, set one by one (docs/performance.md, "The round before"). */
function verifyFields(fields: Record<string, unknown>, stats: VerifyCounts): void {
  fields['verifyChecks'] = stats.checks;
  fields['verifyCacheHits'] = stats.cacheHits;
  fields['verifyMissing'] = stats.missing;
  fields['verifyErrors'] = stats.errors;
  fields['verifyMs'] = stats.latencyMs;
}

const asError = (e: unknown): Error => (e instanceof Error ? e : new Error(String(e)));

/** Build the handler; call once per container. */
export function createHandler(deps: HandlerDeps): WebhookHandler {
  const { rules, logger, metrics, output } = deps;
  const maxBodyBytes = deps.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const maxResultBytes = deps.maxResultBytes ?? Number.POSITIVE_INFINITY;
  const tokens = typeof deps.token === 'string' ? [deps.token] : deps.token;
  if (tokens !== undefined && (tokens.length === 0 || tokens.length > MAX_TOKENS || tokens.includes(''))) {
    throw new TypeError(`createHandler: token must be undefined, a non-empty string or 1 to ${MAX_TOKENS} of them`);
  }
  const matches = tokenMatch(deps.token);
  let coldStart = true;

  type Note = (o: Outcome, r?: ReviewReport, v?: VerifyCounts) => void;
  const badRequest = (message: string, note: Note, log: Logger): WebhookResult => {
    note('bad_request');
    log.warn('request rejected', { status: 400, reason: message });
    return reply(400, { message });
  };
  // Good rules in force answer at once (a probe that started a refresh of rules in SSM waited for the read, up to READ_TIMEOUT_MS,
  // 3 s, past a kubelet probe's 1 s timeout, and failed readiness took serve's Pod out of its Service); without, it waits for the read.
  const health = async (): Promise<WebhookResult> => {
    const inForce = rules.inForce?.();
    const state = inForce?.ok === true ? inForce : await rules.current();
    return state.ok ? reply(200, { status: 'ok' }) : reply(503, { status: 'unavailable' });
  };

  /** Before a review (the event's shape, health, the token before the body, the method, the body): the body and the token matched, or the answer given. */
  const admit = (event: unknown, note: Note, log: Logger): { readonly answer: WebhookResult | Promise<WebhookResult> } | { readonly body: unknown; readonly match: Exclude<TokenMatch, undefined> } => {
    const req = parseEvent(event);
    if (req === undefined) {
      // A hand-made event (a console test event, `aws lambda invoke`) often carries the review as an
      // object, and an API Gateway method without proxy integration passes the review itself as
      // the event: say which, not only that the event is of no known shape.
      const body = isRecord(event) ? event['body'] : undefined;
      const bare = isRecord(event) && event['kind'] === 'AdmissionReview';
      const message = body !== undefined && body !== null && typeof body !== 'string' ? MESSAGES.bodyNotString : bare ? MESSAGES.bareReview : MESSAGES.unsupportedEvent;
      return { answer: badRequest(message, note, log) };
    }
    if (req.method === 'GET' && req.path === HEALTH_PATH) return { answer: health() };
    const match = matches(requestToken(req));
    if (match === undefined) {
      note('unauthorized');
      // The address is the event's: API Gateway's is an IP, a hand-made event's may be anything (clipped).
      log.warn('request rejected', { status: 401, reason: UNAUTHORIZED_REASON, sourceIp: clip(req.sourceIp) });
      return { answer: reply(401, { message: MESSAGES.unauthorized }) };
    }
    if (req.method !== 'POST') {
      note('bad_request');
      log.warn('request rejected', { status: 405, reason: MESSAGES.methodNotAllowed, method: req.method.slice(0, 16) });
      return { answer: reply(405, { message: MESSAGES.methodNotAllowed }, 'POST') };
    }
    const decoded = decodeBody(req.body, req.base64, maxBodyBytes);
    if (!decoded.ok) return { answer: badRequest(decoded.message, note, log) };
    let body: unknown;
    try {
      body = JSON.parse(decoded.text);
    } catch {
      // The parser's message quotes the body: never log it.
      return { answer: badRequest(MESSAGES.notJson, note, log) };
    }
    return { body, match };
  };

  const handle = async (event: unknown, started: number, note: Note, log: Logger): Promise<WebhookResult> => {
    const admitted = admit(event, note, log);
    if ('answer' in admitted) return admitted.answer;
    const { body, match } = admitted;
    const state = await rules.current();
    // Without rules, the first warning says why nothing is rewritten: fitted (the reason names a
    // file or a parameter, of any length) and counted with the review's own (render's `first`).
    const result = state.ok
      ? await reviewVerified(body, state.rewriter, deps.verifier)
      : await reviewVerified(body, NO_RULES, deps.verifier, notRewritten(state.reason));
    if (!result.ok) return badRequest(result.message, note, log);
    let { report } = result;
    let answer = result.response;
    let text = answerJson(answer);
    // An answer Lambda cannot return (tens of thousands of rewrites: no real workload's object) is
    // answered as when no rules are loaded: allowed, unchanged, a warning saying why (fail open, the
    // handler contract's `allowed: true`), logged and counted as `failopen` (FailOpenAlarm). Left
    // to fail the invocation, it was admitted unrewritten all the same under failurePolicy Ignore,
    // after the line and the metrics had said `patched`.
    const tooLarge = resultBytesOver(text, maxResultBytes);
    const tooLargeReason = tooLarge > 0 ? answerTooLargeReason(tooLarge, maxResultBytes, report.rewrites.length) : undefined;
    if (tooLargeReason !== undefined) {
      const unchanged = await reviewVerified(body, NO_RULES, undefined, notRewritten(tooLargeReason));
      if (!unchanged.ok) return badRequest(unchanged.message, note, log);
      report = unchanged.report;
      answer = unchanged.response;
      text = answerJson(answer);
    }
    let outcome: Outcome;
    if (isDenied(answer)) {
      outcome = 'denied';
    } else if ((!state.ok || tooLargeReason !== undefined) && report.skipped === undefined) {
      outcome = 'failopen';
    } else {
      outcome = outcomeOf(answer, report);
    }
    // A dry run is answered and logged as any review (its line adds `dryRun: true`); only its counts
    // differ: `recordOutcome` counts it under `dryrun`, without its rewrites (`countedOutcome`).
    note(outcome, report, result.verify);
    // The usual review's line, its fields' JSON written directly: the same line as below.
    if (state.ok && result.verify === undefined && tooLargeReason === undefined && match !== 'previous') {
      const usual = usualReviewFieldsJson(report, outcome);
      if (usual !== undefined) {
        const version = state.version === undefined ? '' : `,"rulesVersion":${JSON.stringify(state.version)}`;
        log.hold();
        log.infoWithFieldsJson(REVIEW_LOG_MESSAGE, `${usual},"rules":${escapeLineUnsafe(JSON.stringify(state.source) + version)},"durationMs":${JSON.stringify(durationMs(started))}`);
        return replyText(200, text);
      }
    }
    // The review's one line: a warning when it denied, the rules were not loaded, an image, a
    // rewrite or a field was left alone, or it was called with the previous token of a rotation
    // (README, "Rotating the token": the old token may go once no line says so, at LogLevel WARN too).
    const { fields, problems } = reviewFields(report, outcome);
    if (result.verify !== undefined) verifyFields(fields, result.verify);
    if (isDenied(answer)) fields['denied'] = clip(answer.response.status.message);
    if (tooLargeReason !== undefined) {
      fields['answerBytes'] = tooLarge;
      fields['notRewritten'] = tooLargeReason;
    }
    if (state.ok) {
      fields['rules'] = state.source;
      fields['rulesVersion'] = state.version;
    } else {
      fields['rulesNotLoaded'] = state.reason;
    }
    // Called with the previous token of a rotation: the cluster still has the old URL.
    if (match === 'previous') fields['previousToken'] = true;
    fields['durationMs'] = durationMs(started);
    // Held for this invocation's write (below); the review's line is its last.
    log.hold();
    if (outcome === 'denied' || outcome === 'failopen' || problems || match === 'previous') log.warn(REVIEW_LOG_MESSAGE, fields);
    else log.info(REVIEW_LOG_MESSAGE, fields);
    return replyText(200, text);
  };

  return async (event, context) => {
    const started = nowMs();
    let outcome: Outcome | undefined;
    let report: ReviewReport | undefined;
    let verify: VerifyCounts | undefined;
    const note = (o: Outcome, r?: ReviewReport, v?: VerifyCounts): void => {
      outcome = o;
      report = r;
      verify = v;
    };
    // This invocation's lines carry its context, whatever others start meanwhile (README, "Lambda Managed Instances").
    const log = logger.forInvocation(context);
    try {
      if (coldStart) {
        coldStart = false;
        log.info('cold start', { coldStart: true });
      }
      return await handle(event, started, note, log);
    } catch (e) {
      outcome = 'error';
      report = undefined;
      log.error('unexpected error; answered 500', { error: asError(e) });
      return reply(500, { message: MESSAGES.internal });
    } finally {
      // Its held lines, then its EMF document: one write, in one synchronous stretch (its lines only).
      output?.hold();
      log.release();
      try {
        // Recorded here, with the outcome, and flushed at once: reviews run concurrently on one Metrics
        // (`serve`), and checks recorded as they ended went into whichever review's document came next.
        if (verify !== undefined) recordVerify(metrics, verify);
        if (outcome !== undefined) {
          recordOutcome(metrics, outcome, report);
          // Only `serve --metrics-listen` has a tap: without one, the clock is not even read.
          metrics.tap?.duration(nowMs() - started);
        }
        // Every invocation while the rules are stale, not only the reads (a TTL apart): ConfigErrorAlarm
        // stays in alarm while the function ignores the newest document. One boolean when healthy.
        if (rules.stale?.() === true) recordRulesStale(metrics);
        flushMetrics(metrics);
      } catch (e) {
        log.error('cannot publish metrics', { error: asError(e) });
      } finally {
        output?.release();
      }
    }
  };
}
