/**
 * The Logger and Metrics: the exact JSON of a log line and of an EMF document (Powertools' format),
 * what reaches stdout and stderr by default (as on Lambda), what reaches an injected sink, levels,
 * and the review's one log line (`reviewFields`): its lists, their bounds and the per-rule slots.
 */
import { afterEach, describe, expect, it } from '@jest/globals';
import type { Context } from 'aws-lambda';
import type { ReviewReport } from '../../src/core/admission.js';
import { escapeBidi } from '../../src/core/json.js';
import { isoTimestamp, JsonLogger, LineOutput, logLevelOf } from '../../src/observability/json-log.js';
import {
  count,
  countedOutcome,
  createObservability,
  flushMetrics,
  logLevelFromEnv,
  MAX_LISTED,
  MAX_LISTED_BYTES,
  MAX_LOGGED_STRING,
  Metric,
  METRICS_NAMESPACE,
  OTHER_RULES,
  OUTCOMES,
  recordOutcome,
  recordVerify,
  reviewFields,
  ruleSlots,
  SERVICE_NAME,
  type StreamWrite,
} from '../../src/observability/telemetry.js';
import { captureObservability } from '../helpers/events.js';

const report = (over: Partial<ReviewReport> = {}): ReviewReport => ({
  uid: 'u-1',
  kind: 'v1/Pod',
  namespace: 'shop',
  name: 'web',
  operation: 'CREATE',
  rewrites: [],
  invalid: [],
  malformed: [],
  ...over,
});

const rewrite = (rule: string, container: string) => ({
  containerName: container,
  list: 'containers' as const,
  pointer: '/spec/containers/0/image',
  from: `gcr.io/${container}`,
  to: `asia.gcr.io/${container}`,
  rule,
});

const CONTEXT = {
  functionName: 'image-rewriter',
  invokedFunctionArn: 'arn:aws:lambda:us-west-2:123456789012:function:image-rewriter',
  memoryLimitInMB: '256',
  awsRequestId: 'c6af9ac6-7b61-11e6-9a41-93e8deadbeef',
} satisfies Partial<Context>;

/**
 * The JSON lines `run` writes to stdout (1) and stderr (2) through `write`, the way text reaches
 * the descriptors (by default one `fs.writeSync` each: tests/unit/stdio-write.test.ts).
 */
function captureStd(run: (write: StreamWrite) => void): { stdout: Record<string, unknown>[]; stderr: Record<string, unknown>[] } {
  const written = { 1: [] as string[], 2: [] as string[] };
  run((text, fd) => void written[fd].push(text));
  const parse = (w: string[]): Record<string, unknown>[] =>
    w
      .join('')
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  return { stdout: parse(written[1]), stderr: parse(written[2]) };
}

describe('the log line', () => {
  const saved = process.env['_X_AMZN_TRACE_ID'];
  afterEach(() => {
    if (saved === undefined) delete process.env['_X_AMZN_TRACE_ID'];
    else process.env['_X_AMZN_TRACE_ID'] = saved;
  });

  it('writes bidirectional-text controls from a request as JSON escapes: the same values, nothing reordered in a viewer', () => {
    const lines: string[] = [];
    const logger = new JsonLogger({ serviceName: SERVICE_NAME, logLevel: 'INFO', sink: (l) => lines.push(l) });
    const controls = '\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069';
    const fields = { container: `app${controls}`, image: 'gcr.io/x\u202eevil:1', nested: [{ name: '\u2066ü\u2069' }] };
    logger.info(`message\u202e`, fields);
    logger.warn('plain', { image: 'Ünïcode stays as JSON.stringify writes it' });
    const [escaped = '', plain = ''] = lines;
    expect(escaped).not.toMatch(/[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/);
    expect(escaped).toContain('\\u202e');
    expect(JSON.parse(escaped)).toMatchObject({ message: 'message\u202e', ...fields });
    expect(plain).toContain(JSON.stringify('Ünïcode stays as JSON.stringify writes it'));
  });

  // QA-45: a container name with U+2028 reached the review's line raw (JSON.stringify leaves U+0085,
  // U+2028 and U+2029 as they are), where Python's splitlines and some log shippers end a line: one
  // review became two fragments that are not JSON, and its line was lost to queries and filters.
  it('writes the line breaks JSON.stringify leaves raw (U+0085, U+2028, U+2029) as JSON escapes: one line for every reader', () => {
    const lines: string[] = [];
    const logger = new JsonLogger({ serviceName: SERVICE_NAME, logLevel: 'INFO', sink: (l) => lines.push(l) });
    const fields = { container: 'app\u2028{"level":"INFO","message":"forged"}', image: 'gcr.io/x\u0085y:1', nested: [{ name: 'a\u2029b' }] };
    logger.info('message\u2028', fields);
    logger.warn('latin-1 only', { container: 'caf\u00e9\u0085' });
    expect(lines).toHaveLength(2);
    for (const line of lines) {
      expect(line).not.toMatch(/[\u0085\u2028\u2029]/);
      // Python's str.splitlines: its line boundaries (the C0 ones JSON.stringify escapes anyway).
      // eslint-disable-next-line no-control-regex -- the control characters are the point
      expect(line.split(/\r\n|[\n\r\u000b\u000c\u001c-\u001e\u0085\u2028\u2029]/)).toHaveLength(1);
    }
    expect(JSON.parse(lines[0] ?? '')).toMatchObject({ message: 'message\u2028', ...fields });
    expect(JSON.parse(lines[1] ?? '')).toMatchObject({ container: 'caf\u00e9\u0085' });
  });

  it.each([
    ['U+061C (Arabic letter mark)', '\u061c'],
    ['U+200E (left-to-right mark)', '\u200e'],
    ['U+202E (right-to-left override)', '\u202e'],
    ['U+2066 (left-to-right isolate)', '\u2066'],
    ['U+2068 (first strong isolate)', '\u2068'],
    ['U+2069 (pop directional isolate)', '\u2069'],
  ])('writes a bidirectional-text control alone in a line, %s, as its JSON escape: nothing reordered on a terminal', (_what, control) => {
    const lines: string[] = [];
    const logger = new JsonLogger({ serviceName: SERVICE_NAME, logLevel: 'INFO', sink: (l) => lines.push(l) });
    logger.warn('hostile', { container: `app${control}1.evil` });
    expect(lines[0]).not.toContain(control);
    expect(lines[0]).toContain(`\\u${control.charCodeAt(0).toString(16).padStart(4, '0')}`);
    expect(JSON.parse(lines[0] ?? '')).toMatchObject({ container: `app${control}1.evil` });
  });

  // A request's strings may hold lone surrogates (JSON.parse reads `"\ud800"`), and clipping a
  // string to MAX_LOGGED_STRING can cut a pair in two. JSON.stringify writes either as its escape:
  // JSON text, but Go's encoding/json/v2 and Rust's serde_json (Vector) refuse the whole line.
  it('writes a lone surrogate, from the request or from a clip, as U+FFFD: every line is well-formed Unicode', () => {
    const lines: string[] = [];
    const logger = new JsonLogger({ serviceName: SERVICE_NAME, logLevel: 'INFO', sink: (l) => lines.push(l) });
    const emoji = '\ud83d\ude00';
    logger.warn('hostile\udfff', { namespace: 'ns\ud800', container: 'a\udc00\ud800b', nested: [{ image: `x${emoji}\ud83d` }], text: 'a\\ud800 b' });
    const clipped = report({ invalid: [{ containerName: 'c', image: `${'a'.repeat(MAX_LOGGED_STRING - 1)}${emoji}`, error: 'bad', list: 'containers', pointer: '/spec/containers/0/image' }] });
    logger.warn('admission reviewed', reviewFields(clipped, 'unchanged').fields);
    const wellFormed = (s: string): boolean => new TextDecoder().decode(new TextEncoder().encode(s)) === s;
    const strings = (v: unknown): string[] => (typeof v === 'string' ? [v] : typeof v === 'object' && v !== null ? Object.entries(v).flatMap(([k, x]) => [k, ...strings(x)]) : []);
    for (const line of lines) {
      expect(line).not.toMatch(/(?<!\\)(\\\\)*\\ud[89a-f]/);
      for (const s of strings(JSON.parse(line))) expect(wellFormed(s)).toBe(true);
    }
    expect(JSON.parse(lines[0] ?? '')).toMatchObject({ message: 'hostile\ufffd', namespace: 'ns\ufffd', container: 'a\ufffd\ufffdb', nested: [{ image: `x${emoji}\ufffd` }], text: 'a\\ud800 b' });
    expect(JSON.parse(lines[1] ?? '')).toMatchObject({ invalidImages: [{ image: `${'a'.repeat(MAX_LOGGED_STRING - 1)}\ufffd...` }] });
  });

  it('stays JSON with a partial Lambda context: the missing keys are left out', () => {
    const lines: string[] = [];
    const logger = new JsonLogger({ serviceName: SERVICE_NAME, logLevel: 'INFO', sink: (l) => lines.push(l) });
    // What a caller outside Lambda may pass (the handler called from a script or a test harness).
    logger.addContext({ functionName: 'f' } as unknown as typeof CONTEXT);
    logger.info('partial');
    logger.addContext({ ...CONTEXT, awsRequestId: undefined } as unknown as typeof CONTEXT);
    logger.info('no request id');
    const [partial, noId] = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(Object.keys(partial ?? {})).toEqual(['level', 'message', 'timestamp', 'service', 'cold_start', 'function_name', 'sampling_rate']);
    expect(noId).toMatchObject({ function_arn: CONTEXT.invokedFunctionArn, function_name: CONTEXT.functionName });
    expect(noId).not.toHaveProperty('function_request_id');
  });

  it('has Powertools keys in Powertools order, then the fields; the Lambda context once added', () => {
    const lines: string[] = [];
    const logger = new JsonLogger({ serviceName: SERVICE_NAME, logLevel: 'INFO', sink: (l) => lines.push(l) });
    logger.info('before', { a: 1 });
    process.env['_X_AMZN_TRACE_ID'] = 'Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1';
    logger.addContext(CONTEXT);
    logger.info('first', { uid: 'u', skipped: undefined, n: 2 });
    logger.addContext({ ...CONTEXT, awsRequestId: 'second' });
    logger.warn('second');
    const [before, first, second] = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(Object.keys(before ?? {})).toEqual(['level', 'message', 'timestamp', 'service', 'a']);
    expect(Object.keys(first ?? {})).toEqual([
      'level',
      'message',
      'timestamp',
      'service',
      'cold_start',
      'function_arn',
      'function_memory_size',
      'function_name',
      'function_request_id',
      'sampling_rate',
      'xray_trace_id',
      'uid',
      'n',
    ]);
    expect(first).toEqual({
      level: 'INFO',
      message: 'first',
      timestamp: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
      service: SERVICE_NAME,
      cold_start: true,
      function_arn: CONTEXT.invokedFunctionArn,
      function_memory_size: '256',
      function_name: 'image-rewriter',
      function_request_id: CONTEXT.awsRequestId,
      sampling_rate: 0,
      xray_trace_id: '1-5759e988-bd862e3fe1be46a994272793',
      uid: 'u',
      n: 2,
    });
    expect(second).toMatchObject({ level: 'WARN', message: 'second', cold_start: false, function_request_id: 'second' });
  });

  it("takes the X-Ray trace id from the context first (Lambda Managed Instances set no _X_AMZN_TRACE_ID per invocation)", () => {
    const lines: string[] = [];
    const logger = new JsonLogger({ serviceName: SERVICE_NAME, logLevel: 'INFO', sink: (l) => lines.push(l) });
    delete process.env['_X_AMZN_TRACE_ID'];
    logger.addContext({ ...CONTEXT, xRayTraceId: 'Root=1-00000000-000000000000000000000001;Sampled=0' });
    logger.info('from the context');
    process.env['_X_AMZN_TRACE_ID'] = 'Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1';
    logger.addContext({ ...CONTEXT, xRayTraceId: 'Root=1-00000000-000000000000000000000002' });
    logger.info('the context over the variable');
    logger.addContext(CONTEXT);
    logger.info('the variable without one in the context');
    expect(lines.map((l) => (JSON.parse(l) as Record<string, unknown>)['xray_trace_id'])).toEqual([
      '1-00000000-000000000000000000000001',
      '1-00000000-000000000000000000000002',
      '1-5759e988-bd862e3fe1be46a994272793',
    ]);
  });

  it('gives each invocation a logger of its own context, which later invocations do not change', () => {
    const lines: string[] = [];
    const logger = new JsonLogger({ serviceName: SERVICE_NAME, logLevel: 'INFO', sink: (l) => lines.push(l) });
    const first = logger.forInvocation(CONTEXT);
    const second = logger.forInvocation({ ...CONTEXT, awsRequestId: 'second' });
    const local = logger.forInvocation(undefined);
    first.info('first');
    second.warn('second');
    local.info('local');
    logger.info('what an invocation set off');
    const parsed = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(parsed.map((l) => [l['message'], l['function_request_id'], l['cold_start']])).toEqual([
      ['first', CONTEXT.awsRequestId, true],
      ['second', 'second', false],
      ['local', undefined, undefined],
      // The logger itself has the latest invocation's context: here none.
      ['what an invocation set off', undefined, undefined],
    ]);
  });

  it("holds an invocation's stdout lines until its release, in one write, and no other logger's", () => {
    const written: { text: string; stream: 1 | 2 }[] = [];
    const output = new LineOutput((text, stream) => void written.push({ text, stream }));
    const logger = new JsonLogger({ serviceName: SERVICE_NAME, logLevel: 'INFO', output });
    const a = logger.forInvocation(CONTEXT);
    const b = logger.forInvocation({ ...CONTEXT, awsRequestId: 'b' });
    a.hold();
    a.info('a1');
    b.info('b1');
    a.warn('a-warn');
    a.info('a2');
    expect(written.map((w) => [w.stream, w.text.split('\n').filter((l) => l !== '').map((l) => (JSON.parse(l) as Record<string, unknown>)['message'])])).toEqual([
      [1, ['b1']],
      [2, ['a-warn']],
    ]);
    a.release();
    a.release();
    expect(written.at(-1)?.text.split('\n').filter((l) => l !== '').map((l) => (JSON.parse(l) as Record<string, unknown>)['message'])).toEqual(['a1', 'a2']);
    expect(written).toHaveLength(3);
    // Released, it writes its next lines as they come.
    a.info('a3');
    expect(written).toHaveLength(4);
    expect(written.at(-1)?.text).toContain('"message":"a3"');
    // A logger writing to a sink holds nothing.
    const sunk: string[] = [];
    const direct = new JsonLogger({ serviceName: SERVICE_NAME, logLevel: 'INFO', sink: (l) => sunk.push(l) }).forInvocation(undefined);
    direct.hold();
    direct.info('at once');
    expect(sunk).toHaveLength(1);
  });

  it('writes an Error as name, location, message, stack and cause', () => {
    const lines: string[] = [];
    const logger = new JsonLogger({ serviceName: SERVICE_NAME, logLevel: 'INFO', sink: (l) => lines.push(l) });
    logger.error('failed', { error: new TypeError('outer', { cause: new Error('inner') }), other: 'kept' });
    const line = JSON.parse(lines[0] ?? '{}') as Record<string, unknown>;
    expect(line).toMatchObject({
      error: { name: 'TypeError', message: 'outer', location: expect.stringMatching(/observability\.test\.ts:\d+$/), stack: expect.stringContaining('TypeError: outer'), cause: { name: 'Error', message: 'inner' } },
      other: 'kept',
    });
  });

  it('writes an Error without a stack with no stack and an empty location', () => {
    const lines: string[] = [];
    const logger = new JsonLogger({ serviceName: SERVICE_NAME, logLevel: 'INFO', sink: (l) => lines.push(l) });
    const error = new RangeError('no stack');
    // As a thrown value may come: an Error whose stack a library removed.
    delete error.stack;
    logger.error('failed', { error });
    expect(JSON.parse(lines[0] ?? '{}')).toMatchObject({ error: { name: 'RangeError', location: '', message: 'no stack' } });
    expect(JSON.parse(lines[0] ?? '{}')).not.toHaveProperty('error.stack');
  });

  it('writes a cause that is no Error as it is, beside one that is', () => {
    const lines: string[] = [];
    const logger = new JsonLogger({ serviceName: SERVICE_NAME, logLevel: 'INFO', sink: (l) => lines.push(l) });
    logger.error('failed', { error: new Error('outer', { cause: 'a string' }), other: new Error('coded', { cause: { code: 'EPIPE' } }) });
    const line = JSON.parse(lines[0] ?? '{}') as Record<string, unknown>;
    expect(line).toMatchObject({ error: { name: 'Error', message: 'outer', cause: 'a string' }, other: { message: 'coded', cause: { code: 'EPIPE' } } });
  });

  it('writes fields that are empty, or all undefined, as no fields: the line stays JSON', () => {
    const lines: string[] = [];
    const logger = new JsonLogger({ serviceName: SERVICE_NAME, logLevel: 'INFO', sink: (l) => lines.push(l), keys: {} });
    logger.info('empty', {});
    logger.warn('undefined only', { skipped: undefined });
    logger.infoWithFieldsJson('no text', '');
    expect(lines.map((l) => Object.keys(JSON.parse(l) as Record<string, unknown>))).toEqual([
      ['level', 'message', 'timestamp', 'service'],
      ['level', 'message', 'timestamp', 'service'],
      ['level', 'message', 'timestamp', 'service'],
    ]);
  });

  it('calls the first context after clearContext no cold start, and no longer writes the previous one', () => {
    const lines: string[] = [];
    const logger = new JsonLogger({ serviceName: SERVICE_NAME, logLevel: 'INFO', sink: (l) => lines.push(l) });
    logger.clearContext();
    logger.info('local caller');
    logger.addContext(CONTEXT);
    logger.info('first on Lambda');
    logger.clearContext();
    logger.info('local again');
    const [local, lambda, again] = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(Object.keys(local ?? {})).toEqual(['level', 'message', 'timestamp', 'service']);
    expect(lambda).toMatchObject({ cold_start: false, function_request_id: CONTEXT.awsRequestId });
    expect(Object.keys(again ?? {})).toEqual(['level', 'message', 'timestamp', 'service']);
  });

  it.each([
    ['name', { functionName: 'other' }, 'function_name', 'other'],
    ['ARN', { invokedFunctionArn: 'arn:aws:lambda:us-west-2:123456789012:function:image-rewriter:2' }, 'function_arn', 'arn:aws:lambda:us-west-2:123456789012:function:image-rewriter:2'],
    ['memory', { memoryLimitInMB: '512' }, 'function_memory_size', '512'],
  ] as const)('writes the function %s of the context in force, not the one of the previous invocation', (_, change, key, value) => {
    const lines: string[] = [];
    const logger = new JsonLogger({ serviceName: SERVICE_NAME, logLevel: 'INFO', sink: (l) => lines.push(l) });
    logger.addContext(CONTEXT);
    logger.info('first');
    logger.addContext({ ...CONTEXT, ...change });
    logger.info('second');
    logger.addContext(CONTEXT);
    logger.info('third');
    const [first, second, third] = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(second).toMatchObject({ ...first, [key]: value, message: 'second', cold_start: false, timestamp: expect.any(String) });
    expect(third).toMatchObject({ ...first, message: 'third', cold_start: false, timestamp: expect.any(String) });
  });

  it.each([
    ['INFO', true],
    ['WARN', false],
    ['SILENT', false],
  ] as const)('at level %s, writes the INFO line of infoWithFieldsJson: %j', (level, written) => {
    const lines: string[] = [];
    const logger = new JsonLogger({ serviceName: SERVICE_NAME, logLevel: level, sink: (l) => lines.push(l) });
    logger.infoWithFieldsJson('review', '"uid":"u","n":2');
    expect(lines.map((l) => JSON.parse(l) as Record<string, unknown>)).toEqual(written ? [expect.objectContaining({ level: 'INFO', message: 'review', uid: 'u', n: 2 })] : []);
  });

  it.each([
    ['TRACE', ['trace', 'debug', 'info', 'warn', 'error', 'critical']],
    ['INFO', ['info', 'warn', 'error', 'critical']],
    ['ERROR', ['error', 'critical']],
    ['SILENT', []],
  ] as const)('at level %s writes %j', (level, written) => {
    const lines: string[] = [];
    const logger = new JsonLogger({ serviceName: SERVICE_NAME, logLevel: level, sink: (l) => lines.push(l) });
    for (const m of ['trace', 'debug', 'info', 'warn', 'error', 'critical'] as const) logger[m](m);
    expect(lines.map((l) => (JSON.parse(l) as { message: string }).message)).toEqual(written);
    expect(logger.level).toBe(level);
    expect(logger.isEnabled('INFO')).toBe((written as readonly string[]).includes('info'));
  });

  it.each([
    ['info', 'INFO'],
    [' Warn ', 'WARN'],
    ['nope', undefined],
    [undefined, undefined],
  ])('reads the level %j as %j', (value, level) => {
    expect(logLevelOf(value)).toBe(level);
  });
});

describe('createObservability without a sink (as on Lambda)', () => {
  it('writes INFO lines and EMF documents to stdout, WARN and above to stderr', () => {
    const { stdout, stderr } = captureStd((write) => {
      const { logger, metrics } = createObservability({ logLevel: 'INFO', write });
      logger.info('hello', { uid: 'u-1' });
      logger.warn('careful');
      count(metrics, Metric.Reviews);
      flushMetrics(metrics);
    });
    expect(stdout).toEqual([
      { level: 'INFO', message: 'hello', timestamp: expect.any(String), service: SERVICE_NAME, uid: 'u-1' },
      {
        _aws: { Timestamp: expect.any(Number), CloudWatchMetrics: [{ Namespace: METRICS_NAMESPACE, Dimensions: [['service']], Metrics: [{ Name: 'Reviews', Unit: 'Count' }] }] },
        service: SERVICE_NAME,
        Reviews: 1,
      },
    ]);
    expect(stderr).toEqual([expect.objectContaining({ level: 'WARN', message: 'careful' })]);
  });

  it('honours POWERTOOLS_LOG_LEVEL when no level is given', () => {
    const { stdout, stderr } = captureStd((write) => {
      const { logger } = createObservability({ write }); // tests/setup-env.ts sets SILENT
      logger.error('not shown');
    });
    expect([...stdout, ...stderr]).toEqual([]);
  });
});

describe('logLevelFromEnv', () => {
  it.each([
    [{}, 'INFO'],
    [{ POWERTOOLS_LOG_LEVEL: 'debug', LOG_LEVEL: 'error', AWS_LAMBDA_LOG_LEVEL: 'warn' }, 'DEBUG'],
    [{ LOG_LEVEL: 'error', AWS_LAMBDA_LOG_LEVEL: 'warn' }, 'ERROR'],
    [{ POWERTOOLS_LOG_LEVEL: ' ', LOG_LEVEL: 'nope', AWS_LAMBDA_LOG_LEVEL: 'warn' }, 'WARN'],
    [{ POWERTOOLS_LOG_LEVEL: 'nope', LOG_LEVEL: 'nope', AWS_LAMBDA_LOG_LEVEL: 'nope' }, 'INFO'],
    // Regression (QA-37): Lambda's ApplicationLogLevel FATAL (its highest) counted as unset: INFO.
    [{ AWS_LAMBDA_LOG_LEVEL: 'FATAL' }, 'CRITICAL'],
    [{ LOG_LEVEL: 'warn', AWS_LAMBDA_LOG_LEVEL: 'FATAL' }, 'WARN'],
    [{ LOG_LEVEL: 'fatal' }, 'INFO'],
  ] as const)('reads %j as %s: POWERTOOLS_LOG_LEVEL, else LOG_LEVEL, else AWS_LAMBDA_LOG_LEVEL, else INFO', (env, level) => {
    expect(logLevelFromEnv(env)).toBe(level);
  });
});

describe('createObservability with a sink', () => {
  const saved = process.env['POWERTOOLS_METRICS_DISABLED'];
  afterEach(() => {
    if (saved === undefined) delete process.env['POWERTOOLS_METRICS_DISABLED'];
    else process.env['POWERTOOLS_METRICS_DISABLED'] = saved;
  });

  it('sends everything to the sink and nothing to stdout', () => {
    let obs = captureObservability();
    const std = captureStd((write) => {
      // A sink takes precedence over `write`: nothing may reach the descriptors.
      obs = captureObservability({ write });
      obs.logger.warn('careful', { a: 1 });
      count(obs.metrics, Metric.ConfigErrors, 2);
      flushMetrics(obs.metrics);
    });
    expect([...std.stdout, ...std.stderr]).toEqual([]);
    expect(obs.logs()).toEqual([expect.objectContaining({ level: 'WARN', message: 'careful', a: 1, service: SERVICE_NAME })]);
    expect(obs.emf()).toEqual([expect.objectContaining({ ConfigErrors: 2 })]);
  });

  it('writes nothing when nothing was recorded', () => {
    const obs = captureObservability();
    flushMetrics(obs.metrics);
    obs.metrics.publishStoredMetrics();
    expect(obs.lines).toEqual([]);
  });

  it.each([' True ', 'TRUE'])('writes no EMF when POWERTOOLS_METRICS_DISABLED is %j (any case, blanks around it)', (value) => {
    process.env['POWERTOOLS_METRICS_DISABLED'] = value;
    const obs = captureObservability();
    count(obs.metrics, Metric.Reviews);
    flushMetrics(obs.metrics);
    expect(obs.emf()).toEqual([]);
  });

  it('writes the keys it is given on every log line, after service, and not in the EMF document', () => {
    const lines: Record<string, unknown>[] = [];
    const { logger, metrics } = createObservability({ logLevel: 'INFO', keys: { worker: 2, pool: 'a' }, sink: (l) => lines.push(JSON.parse(l) as Record<string, unknown>) });
    logger.info('hello', { uid: 'u' });
    logger.warn('careful');
    count(metrics, Metric.Reviews);
    flushMetrics(metrics);
    const [hello, careful, doc] = lines;
    expect(Object.keys(hello ?? {})).toEqual(['level', 'message', 'timestamp', 'service', 'worker', 'pool', 'uid']);
    expect(careful).toMatchObject({ worker: 2, pool: 'a' });
    expect(doc).toEqual({ _aws: expect.any(Object), service: SERVICE_NAME, Reviews: 1 });
  });

  it('writes no EMF when metrics are disabled, and clears them', () => {
    process.env['POWERTOOLS_METRICS_DISABLED'] = 'true';
    const obs = captureObservability();
    count(obs.metrics, Metric.Reviews);
    flushMetrics(obs.metrics);
    expect(obs.emf()).toEqual([]);
    expect(obs.metrics.hasStoredMetrics()).toBe(false);
  });

  it('sums a metric added twice, keeps the last value of a dimension, and starts afresh after a flush', () => {
    const obs = captureObservability();
    count(obs.metrics, Metric.Rewrites, 2);
    count(obs.metrics, Metric.Rewrites, 3);
    obs.metrics.addDimension('Outcome', 'unchanged');
    obs.metrics.addDimension('Outcome', 'patched');
    flushMetrics(obs.metrics);
    count(obs.metrics, Metric.Reviews);
    flushMetrics(obs.metrics);
    expect(obs.emf()).toEqual([
      {
        _aws: { Timestamp: expect.any(Number), CloudWatchMetrics: [{ Namespace: METRICS_NAMESPACE, Dimensions: [['service', 'Outcome']], Metrics: [{ Name: 'Rewrites', Unit: 'Count' }] }] },
        service: SERVICE_NAME,
        Outcome: 'patched',
        Rewrites: 5,
      },
      expect.objectContaining({ Reviews: 1, _aws: expect.objectContaining({ CloudWatchMetrics: [expect.objectContaining({ Dimensions: [['service']] })] }) }),
    ]);
  });

  it('writes the document JSON.stringify would write, names and values escaped', () => {
    const obs = captureObservability();
    obs.metrics.addDimension('Out"come', 'a\\b\n');
    obs.metrics.addMetric('Re"views', 'Count', 2);
    obs.metrics.addMetric('Other', 'Count', 0.5);
    flushMetrics(obs.metrics);
    const [doc] = obs.emf();
    expect(obs.text()).toBe(JSON.stringify(doc));
    expect(doc).toMatchObject({ 'Out"come': 'a\\b\n', 'Re"views': 2, Other: 0.5 });
  });

  it('publishes a service metric with the dimension service only, in a second directive of the same document', () => {
    const obs = captureObservability();
    const directives = (doc: Record<string, unknown> | undefined): unknown => (doc?.['_aws'] as { CloudWatchMetrics: unknown }).CloudWatchMetrics;
    obs.metrics.addDimension('Outcome', 'patched');
    count(obs.metrics, Metric.Reviews);
    obs.metrics.addServiceMetric(Metric.RulesStale, 'Count', 1);
    flushMetrics(obs.metrics);
    // The same names without the flag: not the kept directive.
    obs.metrics.addDimension('Outcome', 'patched');
    count(obs.metrics, Metric.Reviews);
    count(obs.metrics, Metric.RulesStale);
    flushMetrics(obs.metrics);
    // Without other dimensions: one directive.
    obs.metrics.addServiceMetric(Metric.RulesStale, 'Count', 1);
    flushMetrics(obs.metrics);
    const [both, plain, alone] = obs.emf();
    expect(obs.text().split('\n')[0]).toBe(JSON.stringify(both));
    expect(both).toMatchObject({ Outcome: 'patched', Reviews: 1, RulesStale: 1 });
    expect(directives(both)).toEqual([
      { Namespace: METRICS_NAMESPACE, Dimensions: [['service', 'Outcome']], Metrics: [{ Name: 'Reviews', Unit: 'Count' }] },
      { Namespace: METRICS_NAMESPACE, Dimensions: [['service']], Metrics: [{ Name: 'RulesStale', Unit: 'Count' }] },
    ]);
    expect(directives(plain)).toEqual([{ Namespace: METRICS_NAMESPACE, Dimensions: [['service', 'Outcome']], Metrics: [{ Name: 'Reviews', Unit: 'Count' }, { Name: 'RulesStale', Unit: 'Count' }] }]);
    expect(directives(alone)).toEqual([{ Namespace: METRICS_NAMESPACE, Dimensions: [['service']], Metrics: [{ Name: 'RulesStale', Unit: 'Count' }] }]);
  });

  it('flushes before a 101st metric (CloudWatch takes at most 100 per document)', () => {
    const obs = captureObservability();
    for (let i = 0; i < 101; i++) obs.metrics.addMetric(`M${String(i)}`, 'Count', 1);
    flushMetrics(obs.metrics);
    expect(obs.emf().map((d) => Object.keys(d).filter((k) => k.startsWith('M')).length)).toEqual([100, 1]);
  });
});

describe('recordOutcome', () => {
  it.each(OUTCOMES)('counts a review with Outcome %s', (outcome) => {
    const obs = captureObservability();
    recordOutcome(obs.metrics, outcome);
    flushMetrics(obs.metrics);
    const [doc, ...more] = obs.emf();
    expect(more).toEqual([]);
    expect(doc).toMatchObject({ Outcome: outcome, Reviews: 1 });
    if (outcome === 'unauthorized') expect(doc).toMatchObject({ AuthFailures: 1 });
    else expect(doc).not.toHaveProperty('AuthFailures');
  });

  it('counts rewrites and invalid images in the one document (per rule: the summary line)', () => {
    const obs = captureObservability();
    const invalid = { containerName: 'x', list: 'containers' as const, pointer: '/spec/containers/3/image', image: 'A', error: 'bad' };
    recordOutcome(obs.metrics, 'patched', report({ rewrites: [rewrite('gcr', 'a'), rewrite('hub', 'b'), rewrite('gcr', 'c')], invalid: [invalid] }));
    flushMetrics(obs.metrics);
    expect(obs.emf()).toEqual([expect.objectContaining({ Outcome: 'patched', Reviews: 1, Rewrites: 3, InvalidImages: 1 })]);
    expect(obs.emf()[0]).not.toHaveProperty('Rule');
  });

  it('pins the document of a dry run: Outcome dryrun whatever the answer, no Rewrites, its invalid images still', () => {
    const invalid = { containerName: 'x', list: 'containers' as const, pointer: '/spec/containers/3/image', image: 'A', error: 'bad' };
    for (const outcome of ['patched', 'unchanged', 'skipped', 'denied'] as const) {
      const obs = captureObservability();
      recordOutcome(obs.metrics, outcome, report({ dryRun: true, rewrites: [rewrite('gcr', 'a'), rewrite('hub', 'b')], invalid: [invalid] }));
      flushMetrics(obs.metrics);
      expect(obs.emf()).toEqual([
        {
          _aws: {
            Timestamp: expect.any(Number),
            CloudWatchMetrics: [{ Namespace: METRICS_NAMESPACE, Dimensions: [['service', 'Outcome']], Metrics: [{ Name: 'Reviews', Unit: 'Count' }, { Name: 'InvalidImages', Unit: 'Count' }] }],
          },
          service: SERVICE_NAME,
          Outcome: 'dryrun',
          Reviews: 1,
          InvalidImages: 1,
        },
      ]);
    }
  });

  it('counts a dry run that failed open as failopen (FailOpenAlarm), and the outcomes without a review as themselves', () => {
    expect(countedOutcome('failopen', report({ dryRun: true }))).toBe('failopen');
    expect(countedOutcome('patched', report({ dryRun: true }))).toBe('dryrun');
    expect(countedOutcome('patched', report())).toBe('patched');
    for (const outcome of ['bad_request', 'unauthorized', 'error'] as const) expect(countedOutcome(outcome, undefined)).toBe(outcome);
  });
});

describe('recordVerify', () => {
  const emfOf = (stats: Parameters<typeof recordVerify>[1]): Record<string, unknown> | undefined => {
    const obs = captureObservability();
    recordVerify(obs.metrics, stats);
    flushMetrics(obs.metrics);
    return obs.emf()[0];
  };
  const metricsOf = (doc: Record<string, unknown> | undefined): unknown => (doc?.['_aws'] as { CloudWatchMetrics: { Metrics: unknown }[] }).CloudWatchMetrics[0]?.Metrics;

  it('counts checks, cache hits, missing images and errors, and the latency in milliseconds', () => {
    const doc = emfOf({ checks: 4, cacheHits: 1, missing: 2, errors: 1, latencyMs: 12.5 });
    expect(doc).toMatchObject({ VerifyChecks: 4, VerifyCacheHits: 1, VerifyMissing: 2, VerifyErrors: 1, VerifyLatency: 12.5 });
    expect(metricsOf(doc)).toEqual([
      { Name: 'VerifyChecks', Unit: 'Count' },
      { Name: 'VerifyCacheHits', Unit: 'Count' },
      { Name: 'VerifyMissing', Unit: 'Count' },
      { Name: 'VerifyErrors', Unit: 'Count' },
      { Name: 'VerifyLatency', Unit: 'Milliseconds' },
    ]);
  });

  it('writes no cache hits, missing images or errors when there were none: the checks and the latency only', () => {
    const doc = emfOf({ checks: 3, cacheHits: 0, missing: 0, errors: 0, latencyMs: 4 });
    expect(Object.keys(doc ?? {})).toEqual(['_aws', 'service', 'VerifyChecks', 'VerifyLatency']);
    expect(metricsOf(doc)).toEqual([
      { Name: 'VerifyChecks', Unit: 'Count' },
      { Name: 'VerifyLatency', Unit: 'Milliseconds' },
    ]);
  });
});

describe('reviewFields: the one line of a review', () => {
  it('pins the fields of a review with rewrites, invalid images and skipped fields', () => {
    const long = `x${'/y'.repeat(400)}`;
    const { fields, problems } = reviewFields(
      report({
        rewrites: [rewrite('gcr', 'a'), rewrite('hub', 'b'), rewrite('gcr', 'c')],
        invalid: [
          { containerName: 'c', list: 'initContainers', pointer: '/spec/initContainers/0/image', image: long, error: 'invalid reference format' },
          { containerName: undefined, list: 'containers', pointer: '/spec/containers/5/image', image: 'ok.io/a', error: 'rule r produced ...', rule: 'r' },
        ],
        malformed: [{ pointer: '/spec/containers/9/image', problem: 'image must be a string' }],
      }),
      'patched',
    );
    expect(problems).toBe(true);
    expect(fields).toEqual({
      uid: 'u-1',
      kind: 'v1/Pod',
      namespace: 'shop',
      name: 'web',
      operation: 'CREATE',
      outcome: 'patched',
      rewrites: 3,
      invalid: 2,
      rewritten: [
        { container: 'a', from: 'gcr.io/a', to: 'asia.gcr.io/a', rule: 'gcr' },
        { container: 'b', from: 'gcr.io/b', to: 'asia.gcr.io/b', rule: 'hub' },
        { container: 'c', from: 'gcr.io/c', to: 'asia.gcr.io/c', rule: 'gcr' },
      ],
      rule1: 'gcr',
      rule1Rewrites: 2,
      rule2: 'hub',
      rule2Rewrites: 1,
      invalidImages: [
        { container: 'c', image: `${long.slice(0, MAX_LOGGED_STRING)}...`, error: 'invalid reference format' },
        { container: undefined, image: 'ok.io/a', error: 'rule r produced ...', rule: 'r' },
      ],
      skippedFields: [{ pointer: '/spec/containers/9/image', problem: 'image must be a string' }],
    });
  });

  it('lists the rewrites withheld because the target lacks the image, and makes the line a warning', () => {
    const withheld = [{ ...rewrite('gcr', 'a'), reason: 'not found in mirror.example.com' }];
    const { fields, problems } = reviewFields(report({ withheld }), 'unchanged');
    expect(problems).toBe(true);
    expect(fields).toMatchObject({ withheld: 1, withheldImages: [{ container: 'a', from: 'gcr.io/a', to: 'asia.gcr.io/a', rule: 'gcr', reason: 'not found in mirror.example.com' }] });
    expect(fields).not.toHaveProperty('rule1');
  });

  it('pins the line of a dry run: the answer\'s outcome, dryRun: true after the counts, the rewrites listed, no slots', () => {
    const { fields, problems } = reviewFields(report({ dryRun: true, rewrites: [rewrite('gcr', 'a'), rewrite('hub', 'b')] }), 'patched');
    expect(problems).toBe(false);
    expect(JSON.stringify(fields)).toBe(
      JSON.stringify({
        uid: 'u-1',
        kind: 'v1/Pod',
        namespace: 'shop',
        name: 'web',
        operation: 'CREATE',
        outcome: 'patched',
        rewrites: 2,
        invalid: 0,
        dryRun: true,
        rewritten: [
          { container: 'a', from: 'gcr.io/a', to: 'asia.gcr.io/a', rule: 'gcr' },
          { container: 'b', from: 'gcr.io/b', to: 'asia.gcr.io/b', rule: 'hub' },
        ],
      }),
    );
  });

  it('has no dryRun field unless the review was a dry run', () => {
    expect(reviewFields(report({ rewrites: [rewrite('gcr', 'a')] }), 'patched').fields).not.toHaveProperty('dryRun');
  });

  it('has no lists and no slots for a review that changed nothing', () => {
    const { fields, problems } = reviewFields(report({ skipped: 'opt-out' }), 'skipped');
    expect(problems).toBe(false);
    expect(fields).toEqual({ uid: 'u-1', kind: 'v1/Pod', namespace: 'shop', name: 'web', operation: 'CREATE', outcome: 'skipped', rewrites: 0, invalid: 0, skipped: 'opt-out' });
  });

  it(`lists at most ${String(MAX_LISTED)} of each and counts the rest`, () => {
    const many = <T>(n: number, f: (i: number) => T): T[] => Array.from({ length: n }, (_, i) => f(i));
    const { fields } = reviewFields(
      report({
        rewrites: many(MAX_LISTED + 5, (i) => rewrite('gcr', `c${String(i)}`)),
        invalid: many(MAX_LISTED + 1, (i) => ({ containerName: `i${String(i)}`, list: 'containers' as const, pointer: '/p', image: 'A', error: 'bad' })),
        malformed: many(MAX_LISTED * 3, () => ({ pointer: '/p', problem: 'image must be a string' })),
      }),
      'patched',
    );
    expect(fields['rewritten']).toHaveLength(MAX_LISTED);
    expect(fields).toMatchObject({ rewrites: MAX_LISTED + 5, rewrittenCut: 5, invalidImagesCut: 1, skippedFieldsCut: MAX_LISTED * 2, rule1: 'gcr', rule1Rewrites: MAX_LISTED + 5 });
    expect(fields['invalidImages']).toHaveLength(MAX_LISTED);
    expect(fields['skippedFields']).toHaveLength(MAX_LISTED);
  });

  it('bounds the line whatever the request: 10,000 rewrites of 2 KB images make a line under 64 KiB', () => {
    const image = `gcr.io/${'a'.repeat(2000)}`;
    const r = Array.from({ length: 10_000 }, (_, i) => ({ ...rewrite(`rule-${String(i)}`, image), from: image, to: image }));
    const { fields } = reviewFields(report({ rewrites: r, uid: 'u'.repeat(5000), name: 'n'.repeat(5000) }), 'patched');
    expect(JSON.stringify(fields).length).toBeLessThan(64 * 1024);
    expect(fields['rule5']).toBe(OTHER_RULES);
    expect(fields['rule5Rewrites']).toBe(10_000 - 4);
  });

  /** The bytes `reviewFields` charges its lists: each entry's JSON and its comma (a list's JSON less one). */
  const listedBytes = (fields: Record<string, unknown>): number =>
    ['invalidImages', 'skippedFields', 'withheldImages', 'rewritten'].reduce((n, key) => n + (fields[key] === undefined ? 0 : Buffer.byteLength(escapeBidi(JSON.stringify(fields[key]))) - 1), 0);

  it('keeps the lists within MAX_LISTED_BYTES whatever the length of their escaped strings, each list alone or all of them', () => {
    const many = <T>(f: () => T): T[] => Array.from({ length: MAX_LISTED }, f);
    let cut = 0;
    for (let length = 1; length <= 300; length++) {
      // Every character 6 bytes in the line, as in a hostile request's names.
      const s = '\u0001'.repeat(length);
      const lists = {
        rewrites: many(() => ({ ...rewrite('gcr', s), from: s, to: s })),
        invalid: many(() => ({ containerName: s, list: 'containers' as const, pointer: '/p', image: s, error: s, rule: 'gcr' })),
        malformed: many(() => ({ pointer: s, problem: s })),
        withheld: many(() => ({ ...rewrite('gcr', s), from: s, to: s, reason: s })),
      };
      for (const r of [report(lists), report({ rewrites: lists.rewrites }), report({ invalid: lists.invalid }), report({ malformed: lists.malformed }), report({ withheld: lists.withheld })]) {
        const { fields } = reviewFields(r, 'patched');
        expect(listedBytes(fields)).toBeLessThanOrEqual(MAX_LISTED_BYTES);
        if (Object.keys(fields).some((k) => k.endsWith('Cut'))) cut++;
      }
    }
    // The budget was reached, not only approached.
    expect(cut).toBeGreaterThan(0);
  });

  it('lists an entry that takes exactly the bytes left', () => {
    // 20 entries of 2,047 bytes (2,048 with the comma): MAX_LISTED_BYTES exactly. Their bound (6
    // bytes a character) is over the budget, so each is charged its exact size.
    const entry = (container: string): Record<string, unknown> => ({ container, from: 'a'.repeat(500), to: 'b'.repeat(500), rule: 'gcr' });
    const fill = MAX_LISTED_BYTES / MAX_LISTED - 1 - Buffer.byteLength(JSON.stringify(entry('')));
    const container = (i: number): string => `${'\u0001'.repeat(Math.floor((fill - 2) / 6))}${'c'.repeat((fill - 2) % 6)}${String(i).padStart(2, '0')}`;
    const r = report({ rewrites: Array.from({ length: MAX_LISTED }, (_, i) => ({ ...rewrite('gcr', container(i)), from: 'a'.repeat(500), to: 'b'.repeat(500) })) });
    expect(Buffer.byteLength(JSON.stringify(entry(container(0))))).toBe(MAX_LISTED_BYTES / MAX_LISTED - 1);
    const { fields } = reviewFields(r, 'patched');
    expect(fields['rewritten']).toHaveLength(MAX_LISTED);
    expect(fields['rewrittenCut']).toBeUndefined();
    expect(listedBytes(fields)).toBe(MAX_LISTED_BYTES);
  });

  it('lists the leading entries that fit: none after the first that does not, however small', () => {
    // Four entries of about 9 KB (512 clipped characters of 6 bytes, three strings), a fifth that no
    // longer fits, then small ones that would: the list stays the first four, the rest counted.
    const big = (i: number) => {
      const s = `${'\u0001'.repeat(600)}${String(i)}`;
      return { ...rewrite('gcr', s), from: s, to: s };
    };
    const small = (i: number) => rewrite('gcr', `small-${String(i)}`);
    const r = report({ rewrites: [big(0), big(1), big(2), big(3), big(4), small(5), small(6), small(7)] });
    const { fields } = reviewFields(r, 'patched');
    const listed = (fields['rewritten'] as { container: string }[]).map((e) => e.container);
    expect(listed).toEqual(Array.from({ length: 4 }, () => `${'\u0001'.repeat(MAX_LOGGED_STRING)}...`));
    expect(fields['rewrittenCut']).toBe(4);
  });

  it('leaves out a list none of whose entries fit (no empty list), and counts them', () => {
    // Five invalid images of about 9 KB each: four are listed, and what is left of the budget takes
    // no skipped field of about 6 KB.
    const s = '\u0001'.repeat(600);
    const invalid = Array.from({ length: 5 }, () => ({ containerName: s, list: 'containers' as const, pointer: '/p', image: s, error: s }));
    const { fields } = reviewFields(report({ invalid, malformed: [{ pointer: s, problem: s }] }), 'unchanged');
    expect(fields).toMatchObject({ invalidImagesCut: 1, skippedFieldsCut: 1 });
    expect(fields['invalidImages']).toHaveLength(4);
    expect(fields).not.toHaveProperty('skippedFields');
  });

  it('bounds the line in bytes when every list is full of characters JSON escapes (controls, bidi, lone surrogates)', () => {
    // Each of these is 6 bytes in the line (`\u0001`, `\u202e`, `\ud800`): 512 of them clipped make 3 KB a string.
    const hostile = (c: string, i: number): string => `${c.repeat(600)}${String(i)}`;
    const many = <T>(n: number, f: (i: number) => T): T[] => Array.from({ length: n }, (_, i) => f(i));
    const image = `gcr.io/${'a/'.repeat(120)}app:1`;
    const r = report({
      uid: hostile('\u0001', 0),
      namespace: hostile('\u202e', 0),
      name: hostile('\ud800', 0),
      rewrites: many(MAX_LISTED, (i) => ({ ...rewrite('gcr', hostile('\u0001', i)), from: image, to: image })),
      invalid: many(MAX_LISTED, (i) => ({ containerName: hostile('\u202e', i), list: 'containers' as const, pointer: '/p', image: hostile('\u0001', i), error: 'invalid reference format' })),
      malformed: many(MAX_LISTED, (i) => ({ pointer: '/spec/containers/0/image', problem: hostile('\ud800', i) })),
      withheld: many(MAX_LISTED, (i) => ({ ...rewrite('gcr', hostile('\u0001', i)), from: image, to: image, reason: hostile('\u0002', i) })),
    });
    const { fields } = reviewFields(r, 'patched');
    const lines: string[] = [];
    const logger = new JsonLogger({ serviceName: SERVICE_NAME, logLevel: 'INFO', sink: (l) => lines.push(l) });
    logger.addContext(CONTEXT);
    logger.warn('admission reviewed', fields);
    const line = lines[0] ?? '';
    // Lambda cuts a longer stdout line into several events (and CloudWatch Logs' limit is 256 KB):
    // no part is JSON, so the metric filters and Logs Insights miss the review.
    expect(Buffer.byteLength(line)).toBeLessThan(64 * 1024);
    const parsed = JSON.parse(line) as Record<string, unknown>;
    expect(parsed).toMatchObject({ rewrites: MAX_LISTED, rule1: 'gcr', rule1Rewrites: MAX_LISTED, withheld: MAX_LISTED });
    // What is left out is counted.
    for (const [list, total] of [['rewritten', r.rewrites.length], ['invalidImages', r.invalid.length], ['skippedFields', r.malformed.length], ['withheldImages', MAX_LISTED]] as const) {
      const listed = Array.isArray(parsed[list]) ? (parsed[list] as unknown[]).length : 0;
      expect(listed + ((parsed[`${list}Cut`] as number | undefined) ?? 0)).toBe(total);
    }
  });
});

describe('ruleSlots', () => {
  it.each([
    { desc: 'no rewrites', rules: [], slots: [] },
    { desc: 'one rule', rules: ['a', 'a', 'a'], slots: [['a', 3]] },
    { desc: 'three rules, in order of first use', rules: ['b', 'a', 'b', 'c'], slots: [['b', 2], ['a', 1], ['c', 1]] },
    { desc: 'five rules, each in its slot', rules: ['a', 'b', 'c', 'd', 'e', 'a', 'e'], slots: [['a', 2], ['b', 1], ['c', 1], ['d', 1], ['e', 2]] },
    { desc: 'seven rules: the last slot holds the rest', rules: ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'a', 'g'], slots: [['a', 2], ['b', 1], ['c', 1], ['d', 1], [OTHER_RULES, 4]] },
  ])('$desc', ({ rules, slots }) => {
    expect(ruleSlots(rules.map((rule, i) => rewrite(rule, `c${String(i)}`)))).toEqual(slots);
  });
});

describe('isoTimestamp', () => {
  it('gives the text of Date#toISOString for every millisecond, whatever came before', () => {
    const base = Date.UTC(2026, 11, 4, 5, 59, 58, 990);
    const times = [base, base + 1, base + 9, base + 10, base + 99, base + 100, base + 999, base + 1000, base + 1010, base - 5000, base + 61_000, 0, -1, -999, -1000, -1001, 253402300799999, 253402300800000, -62198755200001, base + 0.5, base + 11];
    for (let i = 0; i < 20_000; i++) times.push(base + Math.floor(((i * 7919) % 5000) - 2500));
    for (const t of times) expect(isoTimestamp(t)).toBe(new Date(t).toISOString());
  });

  it('gives the text of Date#toISOString for each millisecond in turn, and for a time between two: within a second, across seconds, before 1970, past year 9999', () => {
    const starts = [Date.UTC(2026, 11, 4, 5, 59, 58, 500), -2500, 253402300798500];
    for (const start of starts) {
      for (let t = start; t < start + 3000; t += 0.5) expect(isoTimestamp(t)).toBe(new Date(t).toISOString());
    }
  });
});
