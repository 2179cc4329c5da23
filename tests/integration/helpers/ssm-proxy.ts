/**
 * An HTTP proxy on 127.0.0.1 in front of moto that plays a throttled or slow Parameter Store for
 * chosen parameters: an SSM `GetParameter` (X-Amz-Target `AmazonSSM.GetParameter`) of a parameter
 * given a rule is answered as SSM answers when throttled (HTTP 400,
 * `{"__type":"ThrottlingException","message":"Rate exceeded"}`, which the SDK names from `__type`
 * and retries as throttling: @smithy/core's THROTTLING_ERROR_CODES), held before it goes to moto,
 * or answered with moto's status and headers and then no body; every other request goes to moto unchanged. Each `GetParameter` is recorded with the SDK's
 * `amz-sdk-invocation-id` (one per `send`, the same for its retries) and `amz-sdk-request`
 * (`attempt=N; max=M`), so a test can count the attempts of one read and time them.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export const THROTTLING_BODY = JSON.stringify({ __type: 'ThrottlingException', message: 'Rate exceeded' });

/** What the proxy does with the `GetParameter` calls of one parameter. */
export type SsmFault =
  /** Answer the next `count` calls (default: all) as throttled. */
  | { readonly kind: 'throttle'; readonly count?: number }
  /** Hold each call `ms` before passing it on (the SDK's abort closes the connection first). */
  | { readonly kind: 'delay'; readonly ms: number }
  /** Pass each call on, send moto's status and headers back, and hold the body (the SDK's abort closes the connection). */
  | { readonly kind: 'stall' };

export interface GetParameterCall {
  readonly name: string;
  /** `performance.now()` of the proxy (this process) when the request was read. */
  readonly at: number;
  /** The SDK's id of the `send` the attempt belongs to. */
  readonly invocation: string;
  /** The SDK's attempt number (`amz-sdk-request: attempt=N; max=M`). */
  readonly attempt: number;
  readonly maxAttempts: number;
  readonly answered: 'throttled' | 'delayed' | 'stalled' | 'passed';
  /** `performance.now()` when the answer was sent or the client closed the connection. */
  ended?: number;
}

export interface SsmProxy {
  readonly url: string;
  /** Apply `fault` to the `GetParameter` calls of `name`; `undefined`: pass them on again. */
  set(name: string, fault: SsmFault | undefined): void;
  /** No fault, no call recorded. */
  reset(): void;
  /** Every `GetParameter` call seen, in order. */
  readonly calls: readonly GetParameterCall[];
  /** The calls of `name` from the `from`th call on, grouped by SDK `send` (one read and its retries), in order. */
  reads(name: string, from?: number): GetParameterCall[][];
  close(): Promise<void>;
}

const header = (headers: IncomingHttpHeaders, name: string): string => {
  const v = headers[name];
  return Array.isArray(v) ? (v[0] ?? '') : (v ?? '');
};

export async function startSsmProxy(motoUrl: string): Promise<SsmProxy> {
  const target = new URL(motoUrl);
  const faults = new Map<string, { fault: SsmFault; used: number }>();
  const calls: GetParameterCall[] = [];

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const pass = (stall = false): void => {
        const out = request(
          { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: { ...req.headers, host: target.host } },
          (up) => {
            res.writeHead(up.statusCode ?? 502, up.headers);
            if (stall) {
              res.flushHeaders();
              up.resume();
              return;
            }
            up.pipe(res);
          },
        );
        out.on('error', (e) => {
          res.destroy(e);
        });
        out.end(body);
      };
      if (header(req.headers, 'x-amz-target') !== 'AmazonSSM.GetParameter') {
        pass();
        return;
      }
      let name = '';
      try {
        const parsed = (JSON.parse(body.toString('utf8')) as { Name?: unknown }).Name;
        name = typeof parsed === 'string' ? parsed : '';
      } catch {
        // not JSON: passed on, moto answers
      }
      const attempt = /attempt=(\d+); max=(\d+)/.exec(header(req.headers, 'amz-sdk-request'));
      const entry = faults.get(name);
      const active = entry !== undefined && (entry.fault.kind !== 'throttle' || entry.fault.count === undefined || entry.used < entry.fault.count);
      if (active) entry.used += 1;
      const answered = !active ? 'passed' : entry.fault.kind === 'throttle' ? 'throttled' : entry.fault.kind === 'stall' ? 'stalled' : 'delayed';
      const call: GetParameterCall = {
        name,
        at: performance.now(),
        invocation: header(req.headers, 'amz-sdk-invocation-id'),
        attempt: Number(attempt?.[1] ?? 0),
        maxAttempts: Number(attempt?.[2] ?? 0),
        answered,
      };
      calls.push(call);
      res.on('close', () => {
        call.ended = performance.now();
      });
      if (!active) {
        pass();
      } else if (entry.fault.kind === 'stall') {
        pass(true);
      } else if (entry.fault.kind === 'throttle') {
        res.writeHead(400, { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-requestid': randomUUID(), 'content-length': Buffer.byteLength(THROTTLING_BODY) });
        res.end(THROTTLING_BODY);
      } else {
        const timer = setTimeout(() => {
          pass();
        }, entry.fault.ms);
        res.on('close', () => {
          clearTimeout(timer);
        });
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    set(name, fault) {
      if (fault === undefined) faults.delete(name);
      else faults.set(name, { fault, used: 0 });
    },
    reset() {
      faults.clear();
      calls.length = 0;
    },
    calls,
    reads(name, from = 0) {
      const byInvocation = new Map<string, GetParameterCall[]>();
      for (const c of calls.slice(from).filter((x) => x.name === name)) {
        const list = byInvocation.get(c.invocation) ?? [];
        list.push(c);
        byInvocation.set(c.invocation, list);
      }
      return [...byInvocation.values()];
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => {
          resolve();
        });
      }),
  };
}
