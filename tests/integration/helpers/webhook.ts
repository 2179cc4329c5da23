/**
 * The real Lambda entry started with a given environment, two ways, behind one interface:
 * - in process: src/lambda/main.ts imported afresh (jest.resetModules) with process.env set, its log
 *   lines captured from its writer to stdout/stderr;
 * - under RIE: dist/handler.js with aws-lambda-ric under the Runtime Interface Emulator, its log
 *   lines read from RIE's output, copied where no node_modules is in reach (the AWS SDK from its
 *   own chunks, as on Lambda). The closest thing to production that runs here.
 * Either way the function's init reads its token and rules the way Lambda's cold start does.
 */
import { afterAll, beforeAll, jest } from '@jest/globals';
import { type JsonObject, loadEvent } from '../../helpers/events.js';
import { jsonLines } from './processes.js';
import { startRie } from './rie.js';
import { standaloneDistHandler } from './tools.js';

export interface Answer {
  readonly statusCode: number;
  readonly body: JsonObject;
}

export interface Webhook {
  /** Invoke with events/NAME (or with an event object); the result with its body parsed. */
  call(event: string | JsonObject): Promise<Answer>;
  /** Every JSON log line written so far. */
  logs(): JsonObject[];
  stop(): Promise<void>;
}

export type StartWebhook = (env: Readonly<Record<string, string>>) => Promise<Webhook>;

/** Every variable src/config/settings.ts reads: unset unless the scenario sets it. */
const SOURCE_VARIABLES = ['REWRITE_RULES', 'REWRITE_RULES_PARAMETER', 'REWRITE_RULES_TTL_SECONDS', 'WEBHOOK_TOKEN', 'WEBHOOK_TOKEN_PARAMETER', 'WEBHOOK_TOKEN_SECRET_ARN', 'WEBHOOK_ALLOW_UNAUTHENTICATED'];

function toAnswer(value: unknown): Answer {
  if (typeof value !== 'object' || value === null) throw new Error(`not a proxy result: ${JSON.stringify(value)}`);
  const v = value as Record<string, unknown>;
  const { statusCode, body } = v;
  if (typeof statusCode !== 'number' || typeof body !== 'string') throw new Error(`not a proxy result: ${JSON.stringify(value)}`);
  return { statusCode, body: JSON.parse(body) as JsonObject };
}

type Handler = (event: unknown) => Promise<unknown>;

/** src/lambda/main.ts, imported fresh with `env` (plus the AWS settings) in process.env. */
export const startInProcess: StartWebhook = async (env) => {
  const saved = { ...process.env };
  for (const name of SOURCE_VARIABLES) Reflect.deleteProperty(process.env, name);
  Object.assign(process.env, { POWERTOOLS_LOG_LEVEL: 'INFO', ...env });

  // The entry's logger writes its JSON lines to stdout and stderr, one write each
  // (src/observability/stdio-write.ts): its writer is replaced by one that keeps them. Registered
  // before the entry is imported afresh below, so that import gets it.
  const captured: string[] = [];
  jest.unstable_mockModule('../../../src/observability/stdio-write.js', () => ({ descriptorWrite: () => (text: string) => void captured.push(text), stdioWriteFor: () => undefined }));
  const restore = (): void => {
    process.env = saved;
  };

  let handler: Handler;
  try {
    jest.resetModules();
    ({ handler } = await import('../../../src/lambda/main.js'));
  } catch (e) {
    restore();
    throw e;
  }
  return {
    call: async (event) => toAnswer(await handler(typeof event === 'string' ? loadEvent(event) : event)),
    logs: () => jsonLines(captured.join('')),
    stop: () => {
      restore();
      return Promise.resolve();
    },
  };
};

/**
 * dist/handler.js under RIE with `env` (startRie adds the Lambda and AWS settings), from a copy with
 * no node_modules in reach, as in a Lambda task root: the AWS SDK comes from its chunks.
 */
export const startUnderRie: StartWebhook = async (env) => {
  const fn = await startRie({ bundle: standaloneDistHandler(), env });
  return {
    call: async (event) => toAnswer(await fn.result(typeof event === 'string' ? loadEvent(event) : event)),
    logs: () => jsonLines(fn.process.output()),
    stop: () => fn.stop(),
  };
};

/**
 * One invocation of an environment whose init may fail: the answer, or the init's error (under RIE
 * its HTTP 502 and the runtime's `errorType`/`errorMessage`; in process the error the import threw).
 */
export type Invoked =
  | { readonly init: 'ok'; readonly answer: Answer; readonly ms: number }
  | { readonly init: 'failed'; readonly status: number | undefined; readonly errorType: string; readonly errorMessage: string; readonly ms: number };

/** An execution environment as Lambda runs one: an init that failed is run again at the next invocation. */
export interface LambdaEnvironment {
  invoke(event: string | JsonObject): Promise<Invoked>;
  /** Every JSON log line written so far, failed inits included. */
  logs(): JsonObject[];
  stop(): Promise<void>;
}

export type StartEnvironment = (env: Readonly<Record<string, string>>) => Promise<LambdaEnvironment>;

/**
 * src/lambda/main.ts in process with `env`: imported afresh at the first invocation, and again at
 * the next one after an import that threw (Lambda's init retried); its log lines kept throughout.
 */
export const environmentInProcess: StartEnvironment = (env) => {
  const saved = { ...process.env };
  for (const name of SOURCE_VARIABLES) Reflect.deleteProperty(process.env, name);
  Object.assign(process.env, { POWERTOOLS_LOG_LEVEL: 'INFO', ...env });
  const captured: string[] = [];
  let handler: Handler | undefined;
  return Promise.resolve({
    async invoke(event) {
      const started = performance.now();
      if (handler === undefined) {
        jest.unstable_mockModule('../../../src/observability/stdio-write.js', () => ({ descriptorWrite: () => (text: string) => void captured.push(text), stdioWriteFor: () => undefined }));
        jest.resetModules();
        try {
          ({ handler } = await import('../../../src/lambda/main.js'));
        } catch (e) {
          const error = e instanceof Error ? e : new Error(String(e));
          return { init: 'failed', status: undefined, errorType: error.name, errorMessage: error.message, ms: performance.now() - started };
        }
      }
      const answer = toAnswer(await handler(typeof event === 'string' ? loadEvent(event) : event));
      return { init: 'ok', answer, ms: performance.now() - started };
    },
    logs: () => jsonLines(captured.join('')),
    stop: () => {
      process.env = saved;
      return Promise.resolve();
    },
  });
};

/** dist/handler.js under RIE with `env`, as `startUnderRie`; an init error is RIE's 502 and the runtime's error JSON. */
export const environmentUnderRie: StartEnvironment = async (env) => {
  const fn = await startRie({ bundle: standaloneDistHandler(), env });
  return {
    async invoke(event) {
      const r = await fn.invoke(typeof event === 'string' ? loadEvent(event) : event);
      const body = JSON.parse(r.body) as unknown;
      if (r.status === 200) return { init: 'ok', answer: toAnswer(body), ms: r.ms };
      const { errorType, errorMessage } = (body ?? {}) as Record<string, unknown>;
      if (typeof errorType !== 'string' || typeof errorMessage !== 'string') throw new Error(`RIE answered ${r.status}: ${r.body}`);
      return { init: 'failed', status: r.status, errorType, errorMessage, ms: r.ms };
    },
    logs: () => jsonLines(fn.process.output()),
    stop: () => fn.stop(),
  };
};

/**
 * What one describe block runs its tests against: started in its beforeAll by `start` (with the
 * setup it does first), stopped in its afterAll. Returns a getter for the tests.
 */
export function startedInBlock<T extends { stop(): Promise<void> }>(start: () => Promise<T>): () => T {
  let started: T | undefined;
  beforeAll(async () => {
    started = await start();
  });
  afterAll(async () => {
    await started?.stop();
  });
  return () => {
    if (started === undefined) throw new Error('the function did not start (see the error of beforeAll)');
    return started;
  };
}
