/**
 * The real Lambda entry started with a given environment, two ways, behind one interface:
 * - in process: src/lambda/main.ts imported afresh (jest.resetModules) with process.env set, its log
 *   lines captured from its writer to stdout/stderr;
 * - under RIE: dist/handler.js with aws-lambda-ric under the Runtime Interface Emulator, its log
 *   lines read from RIE's output, copied where no node_modules is in reach (the AWS SDK from its
 *   own chunks, as on Lambda). The closest thing to production that runs here.
 * Either way the function's init reads its token and rules the way Lambda's cold start does.
 */
import { jest } from '@jest/globals';
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
  jest.unstable_mockModule('../../../src/observability/stdio-write.js', () => ({ descriptorWrite: () => (text: string) => void captured.push(text) }));
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
