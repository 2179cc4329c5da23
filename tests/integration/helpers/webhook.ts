/**
 * The real Lambda entry started with a given environment, two ways, behind one interface:
 * - in process: src/lambda/main.ts imported afresh (jest.resetModules) with process.env set, its log
 *   lines captured from stdout/stderr;
 * - under RIE: dist/handler.js with aws-lambda-ric under the Runtime Interface Emulator, its log
 *   lines read from RIE's output. The closest thing to production that runs here.
 * Either way the function's init reads its token and rules the way Lambda's cold start does.
 */
import { jest } from '@jest/globals';
import { createRequire } from 'node:module';
import { type JsonObject, loadEvent } from '../../helpers/events.js';
import { jsonLines } from './processes.js';
import { startRie } from './rie.js';
import { distHandler } from './tools.js';

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

/** node:fs itself (not an ES namespace), whose properties a spy can replace. */
const fs = createRequire(import.meta.url)('node:fs') as typeof import('node:fs');

/** src/lambda/main.ts, imported fresh with `env` (plus the AWS settings) in process.env. */
export const startInProcess: StartWebhook = async (env) => {
  const saved = { ...process.env };
  for (const name of SOURCE_VARIABLES) Reflect.deleteProperty(process.env, name);
  Object.assign(process.env, { POWERTOOLS_LOG_LEVEL: 'INFO', ...env });

  // The function writes its JSON lines to stdout/stderr: keep those, let the rest through. It
  // writes them with fs.writeSync on the descriptor, and through the streams only when that cannot
  // take them (src/observability/stdio-write.ts): both are captured. The spy on fs.writeSync is seen
  // by the fresh import below (jest builds node:fs for it after resetModules).
  const captured: string[] = [];
  const keep = (chunk: string | Uint8Array): boolean => {
    const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
    if (!text.startsWith('{')) return false;
    captured.push(text);
    return true;
  };
  const streamSpies = [process.stdout, process.stderr].map((stream) => {
    const original = stream.write.bind(stream);
    return jest.spyOn(stream, 'write').mockImplementation((chunk: string | Uint8Array) => keep(chunk) || original(chunk));
  });
  const originalWriteSync = fs.writeSync.bind(fs);
  const fdSpy = jest.spyOn(fs, 'writeSync').mockImplementation(((fd: number, data: string | NodeJS.ArrayBufferView, ...rest: unknown[]): number => {
    if ((fd === 1 || fd === 2) && (typeof data === 'string' || data instanceof Uint8Array) && keep(data)) return Buffer.byteLength(typeof data === 'string' ? data : Buffer.from(data));
    return (originalWriteSync as (...args: unknown[]) => number)(fd, data, ...rest);
  }));
  const restore = (): void => {
    for (const spy of streamSpies) spy.mockRestore();
    fdSpy.mockRestore();
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

/** dist/handler.js under RIE with `env` (startRie adds the Lambda and AWS settings). */
export const startUnderRie: StartWebhook = async (env) => {
  const fn = await startRie({ bundle: distHandler(), env });
  return {
    call: async (event) => toAnswer(await fn.result(typeof event === 'string' ? loadEvent(event) : event)),
    logs: () => jsonLines(fn.process.output()),
    stop: () => fn.stop(),
  };
};
