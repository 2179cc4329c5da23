/**
 * The sample events of events/ (the files `sam local invoke` and `npm run invoke` use: only the
 * template's own route) and of tests/fixtures/events/ (shapes the handler supports that the
 * template does not route: HTTP API, Function URL, GET /healthz), loaded fresh for every test, plus
 * a Logger/Metrics pair whose JSON lines are captured, and the decoding of the handler's answer.
 */
import type { Operation } from 'fast-json-patch';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createObservability, type Observability, type ObservabilityOptions } from '../../src/observability/telemetry.js';
import { REPO_ROOT } from './fixtures.js';

export const EVENTS_DIR = join(REPO_ROOT, 'events');
export const FIXTURE_EVENTS_DIR = join(REPO_ROOT, 'tests', 'fixtures', 'events');

/** The token in the path of every sample event (except rest-wrong-token.json). */
export const EVENT_TOKEN = 'example-token-0123456789abcdef';

export type JsonObject = Record<string, unknown>;

/** A fresh copy of events/NAME (else tests/fixtures/events/NAME), to change at will. */
export function loadEvent(name: string): JsonObject {
  const path = existsSync(join(EVENTS_DIR, name)) ? join(EVENTS_DIR, name) : join(FIXTURE_EVENTS_DIR, name);
  return JSON.parse(readFileSync(path, 'utf8')) as JsonObject;
}

/** The files of events/ (the template's route). */
export function eventNames(): string[] {
  return readdirSync(EVENTS_DIR).filter((f) => f.endsWith('.json')).sort();
}

/** The files of tests/fixtures/events/ (shapes the template does not route). */
export function fixtureEventNames(): string[] {
  return readdirSync(FIXTURE_EVENTS_DIR).filter((f) => f.endsWith('.json')).sort();
}

/** The AdmissionReview inside an event (its body, base64-decoded when needed). */
export function eventReview(event: JsonObject): JsonObject {
  const body = event['body'];
  if (typeof body !== 'string') throw new Error('event has no body');
  const text = event['isBase64Encoded'] === true ? Buffer.from(body, 'base64').toString('utf8') : body;
  return JSON.parse(text) as JsonObject;
}

const isJsonObject = (v: unknown): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The JSON object a handler answered (its `body`); throws when the body is not one. */
export function answerBody(answer: { readonly body: string }): JsonObject {
  const v: unknown = JSON.parse(answer.body);
  if (!isJsonObject(v)) throw new Error('body is not an object');
  return v;
}

/** The AdmissionReview `response` of a handler's answer; throws, quoting the body's start, when it has none. */
export function answerResponse(answer: { readonly body: string }): JsonObject {
  const r = answerBody(answer)['response'];
  if (!isJsonObject(r)) throw new Error(`no response: ${answer.body.slice(0, 200)}`);
  return r;
}

/** The JSON Patch of a handler's answer, decoded; undefined when the answer carries none. */
export function answerPatch(answer: { readonly body: string }): Operation[] | undefined {
  const patch = answerResponse(answer)['patch'];
  return typeof patch === 'string' ? (JSON.parse(Buffer.from(patch, 'base64').toString('utf8')) as Operation[]) : undefined;
}

/** The event with another body (a string as is, anything else as JSON). */
export function withBody(event: JsonObject, body: unknown): JsonObject {
  return { ...event, body: typeof body === 'string' || body === null ? body : JSON.stringify(body), isBase64Encoded: false };
}

export interface Captured extends Observability {
  /** Every JSON line written, parsed, in order. */
  readonly lines: JsonObject[];
  /** The log lines (not EMF). */
  logs(): JsonObject[];
  /** The EMF documents. */
  emf(): JsonObject[];
  /** Everything written, as text (to check what must never appear). */
  text(): string;
}

/** Logger (level INFO) and Metrics writing into memory. */
export function captureObservability(options: Pick<ObservabilityOptions, 'write'> = {}): Captured {
  const raw: string[] = [];
  const lines: JsonObject[] = [];
  const obs = createObservability({
    ...options,
    logLevel: 'INFO',
    sink: (line) => {
      raw.push(line);
      lines.push(JSON.parse(line) as JsonObject);
    },
  });
  return {
    ...obs,
    lines,
    logs: () => lines.filter((l) => !('_aws' in l)),
    emf: () => lines.filter((l) => '_aws' in l),
    text: () => raw.join('\n'),
  };
}
