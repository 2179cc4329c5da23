/**
 * The structured logger: one JSON line per call, in the format of Powertools for AWS Lambda's
 * Logger (the same keys in the same order: `level`, `message`, `timestamp`, `service`, the Lambda
 * context's `cold_start`, `function_arn`, `function_memory_size`, `function_name`,
 * `function_request_id`, `sampling_rate`, `xray_trace_id`, then the call's fields).
 *
 * Written here rather than using Powertools' Logger because a line through Powertools' pipeline
 * (log item objects, deep merges, environment reads on every line) costs several times the whole
 * admission review it describes; this writer builds the same line with one `JSON.stringify` of the
 * fields behind a prefix computed once per invocation (docs/performance.md has the figures).
 */
import type { Context } from 'aws-lambda';
import { escapeLineUnsafe } from '../core/json.js';
import { mapStack } from './stack-map.js';
import { descriptorWrite, type StreamWrite } from './stdio-write.js';

const LOG_LEVELS = ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR', 'CRITICAL', 'SILENT'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Powertools' numeric levels; a line is written when its level is at least the logger's. */
const LEVEL_NUMBER: Readonly<Record<LogLevel, number>> = { TRACE: 6, DEBUG: 8, INFO: 12, WARN: 16, ERROR: 20, CRITICAL: 24, SILENT: 28 };

/** The level named by `value` (any case), or undefined. */
export function logLevelOf(value: string | undefined): LogLevel | undefined {
  const v = value?.trim().toUpperCase();
  return LOG_LEVELS.find((l) => l === v);
}

/** Receives one JSON document per call, without a newline. */
export type LineSink = (line: string) => void;

export type LogFields = Readonly<Record<string, unknown>>;

/**
 * An Error as Powertools writes it: name, location (file:line of the throw), message, stack, cause.
 * A bundle's frames are given at their source positions (src/observability/stack-map.ts).
 */
function errorFields(e: Error): Record<string, unknown> {
  const stack = e.stack === undefined ? undefined : mapStack(e.stack);
  const frame = /\(([^)]+?):(\d+):\d+\)|at ([^\s()]+?):(\d+):\d+/.exec(stack ?? '');
  const location = frame === null ? '' : `${frame[1] ?? frame[3] ?? ''}:${frame[2] ?? frame[4] ?? ''}`;
  const out: Record<string, unknown> = { name: e.name, location, message: e.message, stack };
  if (e.cause !== undefined) out['cause'] = e.cause instanceof Error ? errorFields(e.cause) : e.cause;
  return out;
}

/** The fields as JSON, Errors formatted, line breaks and bidirectional-text controls escaped (escapeLineUnsafe); `''` for none. Top-level Errors are the only ones our callers pass. */
function fieldsJson(fields: LogFields): string {
  let withErrors: Record<string, unknown> | undefined;
  for (const key in fields) {
    const v = fields[key];
    if (v instanceof Error) {
      withErrors ??= { ...fields };
      withErrors[key] = errorFields(v);
    }
  }
  // Checked for line breaks and bidirectional-text controls before it is cut: a regex reads flat
  // text at once, and would first copy the joined `,` and slice into one string.
  const json = escapeLineUnsafe(JSON.stringify(withErrors ?? fields));
  return json.length <= 2 ? '' : `,${json.slice(1, -1)}`;
}

/** The second the last timestamp fell in, and its ISO text up to the seconds' dot. */
let secondStart = Number.NaN;
let secondText = '';

/**
 * `new Date(ms).toISOString()`, from the text of its second: formatting a Date costs a good part of
 * the line it stamps, and lines come many to a second
 * (docs/performance.md, "Figures behind the comments").
 */
export function isoTimestamp(ms: number): string {
  const inSecond = ms - secondStart;
  if (!(inSecond >= 0 && inSecond < 1000) || !Number.isInteger(ms)) {
    const iso = new Date(ms).toISOString();
    // Outside years 0 to 9999 the format changes (a sign and six digits): never kept; nor a fraction of a millisecond.
    if (iso.length !== 24 || !Number.isInteger(ms)) return iso;
    secondStart = ms - (ms % 1000 + 1000) % 1000;
    secondText = iso.slice(0, 20);
    return iso;
  }
  return `${secondText}${inSecond < 10 ? '00' : inSecond < 100 ? '0' : ''}${String(inSecond)}Z`;
}

export interface JsonLoggerOptions {
  readonly serviceName: string;
  readonly logLevel: LogLevel;
  /** Every line, whatever its level. Default: `output`'s sinks. */
  readonly sink?: LineSink;
  /** Without `sink`: WARN and above to `err`, the others to `out` (as Powertools; Lambda keeps both). Default: a `LineOutput` of its own. */
  readonly output?: Pick<LineOutput, 'out' | 'err'>;
  /** Keys written on every line after `service` (Powertools' persistent keys), e.g. `serve`'s worker. */
  readonly keys?: LogFields;
}

export type { StreamWrite } from './stdio-write.js';

/** The process's one writer to its descriptors: every `LineOutput` shares it, and so its view of what the streams hold. */
const stdio = descriptorWrite();

/**
 * Where a process's lines go: stdout for the log lines below WARN and the EMF documents, stderr for
 * WARN and above. Lines for stdout given between `hold` and `release` are written together, in one
 * write, at `release`: an invocation's logger keeps its review's line (`JsonLogger.hold`), and the
 * handler holds this output around that line and the EMF document at the invocation's end, so
 * an invocation writes stdout once (the review's line and the EMF document) instead of twice.
 * Every write to stdout is a system call, and on this kind of machine two of them cost about as
 * much as the rest of the review's telemetry (docs/performance.md, "sixth pass"). The bytes on
 * stdout are the same either way: each line ends with its own newline, which is how Lambda and any
 * reader of a pipe split them. Lines for stderr are never held: a warning is written as it
 * happens.
 */
export class LineOutput {
  readonly #write: StreamWrite;
  #held = false;
  #pending = '';

  constructor(write: StreamWrite = stdio) {
    this.#write = write;
  }

  readonly out: LineSink = (line) => {
    if (this.#held) this.#pending += `${line}\n`;
    else this.#write(`${line}\n`, 1);
  };

  readonly err: LineSink = (line) => {
    this.#write(`${line}\n`, 2);
  };

  /** Keep stdout's lines until `release`. */
  hold(): void {
    this.#held = true;
  }

  /** Write the lines kept since `hold` (in one write), and write the next ones as they come. */
  release(): void {
    this.#held = false;
    if (this.#pending === '') return;
    const text = this.#pending;
    this.#pending = '';
    this.#write(text, 1);
  }
}

/**
 * `,"key":value` for a context value, nothing when it is missing: the type says every key is a
 * string, but a caller of the handler outside Lambda may pass a partial context, and a line must
 * stay JSON (`JSON.stringify(undefined)` is no JSON text). Powertools leaves such a key out too.
 */
const contextKey = (key: string, value: string | undefined): string => (typeof value === 'string' ? `,"${key}":${JSON.stringify(value)}` : '');

/**
 * The context keys a line takes. `xRayTraceId` is the runtime's for this invocation: on Lambda
 * Managed Instances the runtime does not set `_X_AMZN_TRACE_ID` per invocation (it runs many at
 * once), and gives the id on the context instead (README, "Lambda Managed Instances").
 */
export type LogContext = Pick<Context, 'invokedFunctionArn' | 'memoryLimitInMB' | 'functionName' | 'awsRequestId'> & { readonly xRayTraceId?: string | undefined };

export class JsonLogger {
  readonly #sink: LineSink;
  readonly #warnSink: LineSink;
  readonly #level: number;
  readonly #service: string;
  /** Whether stdout's lines go to a `LineOutput` (`hold` keeps them), not to a caller's sink. */
  readonly #holds: boolean;
  /** `,"service":...` and the invocation's context keys, JSON, built once per `addContext`. */
  #prefix: string;
  /** Set by `hold`: stdout's lines are kept in `#pending` (joined by newlines) until `release`. */
  #held = false;
  #pending = '';
  #coldStart = true;
  #function: { arn: string; memory: string; name: string; json: string } | undefined;

  /** `{ parent }`: a logger writing where `parent` writes, with its context keys (`forInvocation`). */
  constructor(options: JsonLoggerOptions | { readonly parent: JsonLogger }) {
    if ('parent' in options) {
      const { parent } = options;
      this.#sink = parent.#sink;
      this.#warnSink = parent.#warnSink;
      this.#level = parent.#level;
      this.#service = parent.#service;
      this.#holds = parent.#holds;
      this.#prefix = parent.#prefix;
      this.#coldStart = false;
      return;
    }
    const output = options.output ?? new LineOutput();
    this.#sink = options.sink ?? output.out;
    this.#warnSink = options.sink ?? output.err;
    this.#holds = options.sink === undefined;
    this.#level = LEVEL_NUMBER[options.logLevel];
    this.#service = `,"service":${JSON.stringify(options.serviceName)}${options.keys === undefined ? '' : fieldsJson(options.keys)}`;
    this.#prefix = this.#service;
  }

  /** The log level in force. */
  get level(): LogLevel {
    return LOG_LEVELS.find((l) => LEVEL_NUMBER[l] === this.#level) ?? 'INFO';
  }

  /**
   * The Lambda context of the invocation starting: its keys go on every line until the next call.
   * `cold_start` is true for the first invocation of the process, and the X-Ray trace id is the
   * context's, else the one the runtime set for this invocation (`_X_AMZN_TRACE_ID`).
   */
  addContext(context: LogContext): void {
    const { invokedFunctionArn: arn, memoryLimitInMB: memory, functionName: name } = context;
    // The function's keys are the same for every invocation of a container: encoded once.
    if (this.#function === undefined || this.#function.arn !== arn || this.#function.memory !== memory || this.#function.name !== name) {
      this.#function = { arn, memory, name, json: contextKey('function_arn', arn) + contextKey('function_memory_size', memory) + contextKey('function_name', name) };
    }
    const traceHeader = typeof context.xRayTraceId === 'string' ? context.xRayTraceId : process.env['_X_AMZN_TRACE_ID'];
    const trace = traceHeader === undefined ? undefined : /Root=([^;]+)/.exec(traceHeader)?.[1];
    this.#prefix =
      `${this.#service},"cold_start":${String(this.#coldStart)}${this.#function.json}${contextKey('function_request_id', context.awsRequestId)},"sampling_rate":0` +
      (trace === undefined ? '' : `,"xray_trace_id":${JSON.stringify(trace)}`);
    this.#coldStart = false;
  }

  /**
   * An invocation starting without a Lambda context (a local caller): its lines carry no context
   * keys, not those of the previous invocation, and the next context is not the cold start.
   */
  clearContext(): void {
    this.#prefix = this.#service;
    this.#coldStart = false;
  }

  /**
   * The logger of one invocation: its lines carry `context`'s keys (none without one) whatever
   * other invocations start while it awaits (`serve`, and Lambda Managed Instances, run many at
   * once in one process or thread), and `hold` keeps its stdout lines for it alone. This logger
   * takes the context too (`addContext`, `clearContext`), for the lines of what the invocation
   * set off (a read of the rules): those carry the latest invocation's keys.
   */
  forInvocation(context: LogContext | null | undefined): JsonLogger {
    if (context === undefined || context === null) this.clearContext();
    else this.addContext(context);
    return new JsonLogger({ parent: this });
  }

  /** Keep this logger's stdout lines until `release` (nothing is kept when the lines go to a sink). */
  hold(): void {
    this.#held = this.#holds;
  }

  /** Write the stdout lines kept since `hold`, in one call of the sink, and the next ones as they come. */
  release(): void {
    this.#held = false;
    if (this.#pending === '') return;
    const text = this.#pending;
    this.#pending = '';
    this.#sink(text);
  }

  trace(message: string, fields?: LogFields): void {
    this.#write(6, 'TRACE', message, fields);
  }

  debug(message: string, fields?: LogFields): void {
    this.#write(8, 'DEBUG', message, fields);
  }

  info(message: string, fields?: LogFields): void {
    this.#write(12, 'INFO', message, fields);
  }

  warn(message: string, fields?: LogFields): void {
    this.#write(16, 'WARN', message, fields);
  }

  error(message: string, fields?: LogFields): void {
    this.#write(20, 'ERROR', message, fields);
  }

  critical(message: string, fields?: LogFields): void {
    this.#write(24, 'CRITICAL', message, fields);
  }

  /** Whether a line of `level` would be written. */
  isEnabled(level: Exclude<LogLevel, 'SILENT'>): boolean {
    return LEVEL_NUMBER[level] >= this.#level;
  }

  /**
   * An INFO line whose fields are given as their JSON text without the braces (`"a":1,"b":"x"`,
   * no line break nor bidirectional-text control in it: escapeLineUnsafe): the same line as `info` with those fields, for a caller
   * that wrote the text itself (src/observability/telemetry.ts, `usualReviewFieldsJson`).
   */
  infoWithFieldsJson(message: string, fields: string): void {
    this.#line(12, 'INFO', message, fields === '' ? '' : `,${fields}`);
  }

  #write(level: number, name: string, message: string, fields: LogFields | undefined): void {
    if (level < this.#level) return;
    // Fields carry strings from requests (container names, invalid images): no raw line breaks
    // (U+2028: Python's splitlines ends a line there) nor bidirectional-text controls (fieldsJson).
    this.#line(level, name, message, fields === undefined ? '' : fieldsJson(fields));
  }

  #line(level: number, name: string, message: string, extra: string): void {
    if (level < this.#level) return;
    const line = `{"level":"${name}","message":${escapeLineUnsafe(JSON.stringify(message))},"timestamp":"${isoTimestamp(Date.now())}"${this.#prefix}${extra}}`;
    if (level >= 16) this.#warnSink(line);
    else if (this.#held) this.#pending = this.#pending === '' ? line : `${this.#pending}\n${line}`;
    else this.#sink(line);
  }
}
