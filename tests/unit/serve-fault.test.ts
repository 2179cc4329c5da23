/**
 * `image-rewriter serve` (the bundled CLI, as a process) under load through its faults: 4 clients
 * send AdmissionReviews without pause (a new TLS connection each), the certificate is rotated
 * twice the way a Kubernetes Secret volume does it, then the process gets a real SIGTERM.
 *
 * Counted, not timed: every request the server read (its "request" log line, by requestId) was
 * answered 200 with the expected patch at the client (zero failed, zero dropped); requests refused
 * once shutdown began (connection refused or reset before the server read a request) are counted
 * and never appear in the server's log; both rotated certificates were served; the exit code is 0.
 *
 * Regression test for the shutdown of src/serve/connections.ts: https.Server#close destroyed new connections whose
 * first request was still on the wire (3 of 185 requests dropped in this test before the fix).
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { request } from 'node:https';
import { copyFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { connect, TLSSocket } from 'node:tls';
import { bundleCli } from '../helpers/cli-bundle.js';
import { FIXTURES } from '../helpers/fixtures.js';
import { type LogLine, withServe } from '../helpers/serve-process.js';
import { startServer } from '../../src/serve/server.js';
import { createRotationPki, type IssuedCertificate, type RotationPki, SecretVolume, type TestPki, untilClosed } from '../helpers/tls.js';

const TOKEN = 'serve-fault-token-0123456789';

let rig: RotationPki;
let pki: TestPki;
let second: IssuedCertificate;
let third: IssuedCertificate;
let scratch: string;

beforeAll(async () => {
  rig = await createRotationPki('serve-fault-');
  ({ pki, second, third, scratch } = rig);
});

afterAll(() => rig.remove());

const body = (n: number): string =>
  JSON.stringify({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: `uid-${n}`,
      kind: { group: '', version: 'v1', kind: 'Pod' },
      resource: { group: '', version: 'v1', resource: 'pods' },
      operation: 'CREATE',
      namespace: 'default',
      object: { metadata: { name: `p${n}` }, spec: { containers: [{ name: 'app', image: `gcr.io/app:${n}` }] } },
    },
  });

type Outcome =
  | { readonly kind: 'answered'; readonly status: number; readonly requestId: string; readonly image: string | undefined; readonly serial: string }
  | { readonly kind: 'refused'; readonly code: string; readonly afterHandshake: boolean };

/** One POST on a new connection; a connection error is an outcome, not a rejection. */
function post(port: number, n: number): Promise<Outcome> {
  return new Promise((settle) => {
    let settled = false;
    const resolve = (o: Outcome): void => {
      if (!settled) settle(o);
      settled = true;
    };
    let secure = false;
    const req = request(
      { host: '127.0.0.1', port, ca: pki.ca, method: 'POST', path: `/mutate/${TOKEN}`, agent: false, headers: { 'content-type': 'application/json' } },
      (res) => {
        const serial = res.socket instanceof TLSSocket ? res.socket.getPeerCertificate().serialNumber.toUpperCase() : '';
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let image: string | undefined;
          try {
            const patch = (JSON.parse(text) as { response?: { patch?: string } }).response?.patch;
            const ops = patch === undefined ? [] : (JSON.parse(Buffer.from(patch, 'base64').toString('utf8')) as { path: string; value: string }[]);
            image = ops.find((o) => o.path === '/spec/containers/0/image')?.value;
          } catch {
            image = undefined;
          }
          resolve({ kind: 'answered', status: res.statusCode ?? 0, requestId: String(res.headers['x-request-id']), image, serial });
        });
        res.on('error', (e: NodeJS.ErrnoException) => {
          resolve({ kind: 'refused', code: e.code ?? e.message, afterHandshake: true });
        });
        res.on('aborted', () => {
          resolve({ kind: 'refused', code: 'aborted mid-answer', afterHandshake: true });
        });
      },
    );
    req.on('socket', (socket) => {
      socket.once('secureConnect', () => {
        secure = true;
      });
    });
    req.on('error', (e: NodeJS.ErrnoException) => {
      resolve({ kind: 'refused', code: e.code ?? e.message, afterHandshake: secure });
    });
    // A connection closed without an answer or an error event (never seen, but never hang on it).
    req.on('close', () => {
      resolve({ kind: 'refused', code: 'closed without an answer', afterHandshake: secure });
    });
    req.end(body(n));
  });
}

describe.each([1, 2])('serve --workers %i under load: two certificate rotations, then SIGTERM', (workers) => {
  it('answers every request it read (zero failed or dropped), serves both new certificates, and exits 0', async () => {
    const cli = await bundleCli(join(scratch, 'cli.mjs'));
    const volume = await SecretVolume.create(scratch, pki.server);
    const rules = join(scratch, 'rules.yaml');
    await copyFile(join(FIXTURES, 'valid-demo.yaml'), rules);
    const tokenFile = join(scratch, 'token');
    await writeFile(tokenFile, TOKEN);
    const args = ['--config', rules, '--listen', '127.0.0.1:0', '--tls-cert-file', volume.certFile, '--tls-private-key-file', volume.keyFile, '--token-file', tokenFile, '--workers', String(workers)];

    const CLIENTS = 4;
    const PER_PHASE = 15; // requests per client between two events
    const outcomes: Outcome[] = [];
    const logs = await withServe({ cli, args }, async (s) => {
      const port = await s.port;

      let n = 0;
      let signalled = false;
      let phaseDone = 0;
      let phaseWaiter: () => void = () => undefined;
      const clients = Array.from({ length: CLIENTS }, async () => {
        let mine = 0;
        // Each client sends until the server is gone: through the rotations and the shutdown.
        for (;;) {
          const outcome = await post(port, n++);
          outcomes.push(outcome);
          mine++;
          if (mine % PER_PHASE === 0) {
            phaseDone++;
            phaseWaiter();
          }
          if (signalled && outcome.kind === 'refused') return;
          if (outcomes.length > 5000) throw new Error('runaway client');
        }
      });
      const afterPhase = async (): Promise<void> => {
        const target = phaseDone + CLIENTS;
        while (phaseDone < target) {
          await new Promise<void>((resolve) => {
            phaseWaiter = resolve;
          });
        }
      };
      // Every worker reloads the certificate itself: wait for each one's line.
      const reloaded = (cert: IssuedCertificate): ((l: LogLine) => boolean) => {
        const seen = new Set<unknown>();
        return (l) => {
          if (l['message'] === 'certificate reloaded' && l['serialNumber'] === cert.serialNumber) seen.add(l['worker']);
          return seen.size >= workers;
        };
      };

      await afterPhase();
      let rotated = s.next(reloaded(second));
      await volume.update(second);
      await rotated;
      await afterPhase();
      rotated = s.next(reloaded(third));
      await volume.update(third);
      await rotated;
      await afterPhase();
      signalled = true;
      s.child.kill('SIGTERM');
      await Promise.all(clients);
      expect(await s.exited).toBe(0);
      return s.logs;
    });

    const served = logs.filter((l) => l['message'] === 'request' && l['resource'] === '/mutate/{token}');
    const answered = outcomes.filter((o): o is Extract<Outcome, { kind: 'answered' }> => o.kind === 'answered');
    const refused = outcomes.filter((o): o is Extract<Outcome, { kind: 'refused' }> => o.kind === 'refused');
    const good = answered.filter((o) => o.status === 200 && o.image?.startsWith('asia.gcr.io/app:') === true);
    const goodIds = new Set(good.map((o) => o.requestId));
    const dropped = served.filter((l) => l['status'] !== 200 || !goodIds.has(String(l['requestId'])));
    const serials = new Set(answered.map((o) => o.serial));
    const summary = {
      sent: outcomes.length,
      readByServer: served.length,
      answered200: good.length,
      failed: answered.length - good.length,
      dropped: dropped.length,
      refusedAtShutdown: refused.length,
      refusedCodes: [...new Set(refused.map((o) => o.code))],
      refusedAfterHandshake: refused.filter((o) => o.afterHandshake).length,
      certificatesServed: serials.size,
    };
    process.stdout.write(`serve under load: ${JSON.stringify(summary)}\n`);
    expect(summary.failed).toBe(0);
    expect(summary.dropped).toBe(0);
    // A connection the server completed TLS with was never reset: refusals are connections it never took.
    expect(summary.refusedAfterHandshake).toBe(0);
    expect(good.length).toBe(served.length);
    expect(good.length).toBeGreaterThanOrEqual(CLIENTS * PER_PHASE * 3);
    expect(serials).toEqual(new Set([pki.server.serialNumber, second.serialNumber, third.serialNumber]));
    expect(refused.length).toBeGreaterThanOrEqual(CLIENTS);
    expect(logs.some((l) => l['message'] === 'shutdown deadline reached; closing the remaining connections')).toBe(false);
    expect(logs.at(-1)?.['message']).toBe('stopped');
  }, 120_000);
});

describe('shutdown with connections that have not sent their request yet', () => {
  it('answers a request sent on a connection opened before the shutdown, and closes a silent one after the grace', async () => {
    const server = await startServer({
      handler: () => Promise.resolve({ statusCode: 200, headers: { 'Content-Type': 'application/json' }, body: '{"ok":true}' }),
      certFile: pki.server.certFile,
      keyFile: pki.server.keyFile,
      host: '127.0.0.1',
      port: 0,
    });
    const open = (): Promise<TLSSocket> =>
      new Promise((resolve, reject) => {
        const s = connect({ host: '127.0.0.1', port: server.port, ca: pki.ca }, () => {
          resolve(s);
        });
        s.on('error', reject);
      });
    const [late, silent] = await Promise.all([open(), open()]);
    const lateClosed = untilClosed(late);
    const silentClosed = untilClosed(silent);
    const closing = server.close();
    // Before the fix, https.Server#close destroyed both at once: the late request got a reset.
    late.write('POST /mutate HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\n\r\n{}');
    const answer = (await lateClosed).data.toString('latin1');
    expect(answer).toMatch(/^HTTP\/1\.1 200/);
    expect(answer.toLowerCase()).toContain('connection: close');
    expect((await silentClosed).data.length).toBe(0);
    await closing;
  });
});
