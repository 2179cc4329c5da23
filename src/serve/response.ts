/**
 * API Gateway emulation, answer side: the handler's proxy result written as an HTTP response (as
 * API Gateway does, a malformed result becomes a 502), and the server's own JSON answers.
 */
import type { ServerResponse } from 'node:http';
import { isRecord } from '../core/json.js';

const JSON_HEADERS = { 'content-type': 'application/json' } as const;

/** Headers the handler may not set: the server owns the connection and the framing. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'content-length', 'upgrade', 'te', 'trailer', 'proxy-connection']);

export type Written = { readonly ok: true; readonly status: number; readonly bytes: number } | { readonly ok: false; readonly problem: string };

const isHeaderValue = (v: unknown): v is string | number | boolean => typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean';

/** Translate the handler's result to status, headers and body, as API Gateway does; a malformed result is a problem (502). */
function encodeResult(result: unknown): { status: number; headers: Map<string, string[]>; body: string | Buffer; bytes: number } | string {
  if (!isRecord(result)) return 'the handler did not return an object';
  const { statusCode, body, isBase64Encoded } = result;
  if (typeof statusCode !== 'number' || !Number.isInteger(statusCode) || statusCode < 100 || statusCode > 599) {
    return 'the handler returned no valid statusCode';
  }
  if (body !== undefined && body !== null && typeof body !== 'string') return 'the handler returned a body that is not a string';
  const headers = new Map<string, string[]>();
  // API Gateway merges both maps; for a name in both, multiValueHeaders wins.
  const multi = result['multiValueHeaders'];
  if (multi !== undefined && multi !== null) {
    if (!isRecord(multi)) return 'the handler returned multiValueHeaders that is not an object';
    for (const [k, values] of Object.entries(multi)) {
      if (!Array.isArray(values) || !values.every(isHeaderValue)) return `the handler returned a bad value for header ${k}`;
      headers.set(k.toLowerCase(), values.map(String));
    }
  }
  const single = result['headers'];
  if (single !== undefined && single !== null) {
    if (!isRecord(single)) return 'the handler returned headers that is not an object';
    for (const [k, v] of Object.entries(single)) {
      if (!isHeaderValue(v)) return `the handler returned a bad value for header ${k}`;
      if (!headers.has(k.toLowerCase())) headers.set(k.toLowerCase(), [String(v)]);
    }
  }
  for (const name of HOP_BY_HOP) headers.delete(name);
  const text = typeof body === 'string' ? body : '';
  if (isBase64Encoded === true) {
    const bytes = Buffer.from(text, 'base64');
    return { status: statusCode, headers, body: bytes, bytes: bytes.length };
  }
  // Text goes to res.end as it is: Node writes it behind the head in one string, without a Buffer copy first.
  return { status: statusCode, headers, body: text, bytes: Buffer.byteLength(text) };
}

/** Write the handler's result; a malformed one writes nothing and is returned as a problem. */
export function writeResult(res: ServerResponse, result: unknown): Written {
  const encoded = encodeResult(result);
  if (typeof encoded === 'string') return { ok: false, problem: encoded };
  try {
    for (const [name, values] of encoded.headers) res.setHeader(name, values.length === 1 ? (values[0] ?? '') : values);
  } catch (e) {
    // Invalid header names or values (control characters) throw here, before anything is sent.
    for (const name of encoded.headers.keys()) res.removeHeader(name);
    return { ok: false, problem: `the handler returned an invalid header (${(e as Error).message})` };
  }
  res.setHeader('content-length', encoded.bytes);
  res.writeHead(encoded.status);
  res.end(encoded.body);
  return { ok: true, status: encoded.status, bytes: encoded.bytes };
}

/** Answer `{"message": ...}` with `status`; returns the body's size in bytes. */
export function sendJson(res: ServerResponse, status: number, message: string): number {
  const body = Buffer.from(JSON.stringify({ message }));
  res.writeHead(status, { ...JSON_HEADERS, 'content-length': body.length });
  res.end(body);
  return body.length;
}
