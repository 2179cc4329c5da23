/**
 * `serve --workers 2` (the bundled CLI, real TLS): the API server's spare connections are held by
 * whichever worker accepted them. Its client dials more connections than a burst uses and keeps the
 * spare ones idle up to 90 s; each worker accepts its own from the shared socket, and one that had
 * not seen that caller show the token answered them 408 at its headers timeout (10 s), so a review
 * written to one at that moment failed (docs/reliability.md, section 8). The workers now share the
 * callers that showed the token through the primary (src/cli/serve-callers.ts), which also gives
 * them to a replacement worker. A stranger's silent connection still gets its 10 s.
 *
 * Which worker accepts a connection is made certain by stopping the other (SIGSTOP): it cannot
 * accept, so the one running does. Each phase waits past serve's headers timeout (10 s, and Node's
 * check of it every second): the only waits here, for the timeout to pass, never timed.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bundleCli } from '../helpers/cli-bundle.js';
import { EVENT_TOKEN, loadEvent } from '../helpers/events.js';
import { FIXTURES } from '../helpers/fixtures.js';
import { childrenOf } from '../helpers/processes.js';
import { type Served, withServe } from '../helpers/serve-process.js';
import { openSilent, type SilentConnection } from '../helpers/silent-connection.js';
import { createTestPki, type TestPki } from '../helpers/tls.js';

let pki: TestPki;
let scratch: string;
let cli: string;
let tokenFile: string;

beforeAll(async () => {
  pki = await createTestPki();
  scratch = await mkdtemp(join(tmpdir(), 'serve-callers-'));
  cli = await bundleCli(join(scratch, 'cli.mjs'));
  tokenFile = join(scratch, 'token');
  await writeFile(tokenFile, `${EVENT_TOKEN}\n`);
}, 60_000);

afterAll(async () => {
  await pki.remove();
  await rm(scratch, { recursive: true, force: true });
});

/** Past serve's headers timeout (10 s) and Node's check of it (every second). */
const PAST_HEADERS_TIMEOUT_MS = 12_500;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A review with the token, kept alive: what the API server sends. */
function review(): string {
  const body = String(loadEvent('rest-pod-v1beta1-demo.json')['body']);
  return `POST /mutate/${EVENT_TOKEN} HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\nContent-Type: application/json\r\nContent-Length: ${String(Buffer.byteLength(body))}\r\n\r\n${body}`;
}

/** A connection from `localAddress` (any 127.x.y.z: another caller) that sends nothing yet. */
const open = (port: number, localAddress: string): Promise<SilentConnection> => openSilent(port, localAddress, pki.ca);

/** `run` with `stopped` unable to accept (SIGSTOP), so the other worker accepts every connection; then it runs again. */
async function withOnly<T>(stopped: number, run: () => Promise<T>): Promise<T> {
  process.kill(stopped, 'SIGSTOP');
  try {
    return await run();
  } finally {
    process.kill(stopped, 'SIGCONT');
  }
}

const args = (rules: string): string[] => ['--config', rules, '--listen', '127.0.0.1:0', '--tls-cert-file', pki.server.certFile, '--tls-private-key-file', pki.server.keyFile, '--token-file', tokenFile, '--workers', '2'];

/** The silent connections' state after the wait: which are still open, and what the closed ones were answered. */
const states = async (conns: Readonly<Record<string, SilentConnection>>): Promise<Record<string, string>> => {
  const out: Record<string, string> = {};
  for (const [name, c] of Object.entries(conns)) out[name] = c.closed() ? `closed: ${await c.answer()}` : 'open';
  return out;
};

describe('serve --workers 2: the spare connections of a caller that showed the token', () => {
  it("are held by every worker, a replacement too, while a stranger's silent connection is closed at the headers timeout", async () => {
    const rules = join(await mkdtemp(join(scratch, 'rules-')), 'rules.yaml');
    await copyFile(join(FIXTURES, 'valid-demo.yaml'), rules);
    await withServe({ cli, args: args(rules) }, async (s: Served) => {
      const port = await s.port;
      const [a, b] = childrenOf(s.child.pid ?? 0);
      if (a === undefined || b === undefined) throw new Error('serve has not two workers');

      // 1. Worker B accepts a silent connection of the caller and one of a stranger; worker A then
      // accepts the caller's review with the token. B never sees the token itself.
      const first = await withOnly(a, async () => ({ spare: await open(port, '127.0.0.1'), stranger: await open(port, '127.0.0.2') }));
      const caller = await withOnly(b, async () => {
        const c = await open(port, '127.0.0.1');
        c.socket.write(review());
        expect(await c.answer()).toBe('HTTP/1.1 200 OK');
        return c;
      });
      await sleep(PAST_HEADERS_TIMEOUT_MS);
      // Before: the spare connection was answered 408 like the stranger's.
      expect(await states(first)).toEqual({ spare: 'open', stranger: 'closed: HTTP/1.1 408 Request Timeout' });

      // 2. Worker A dies; its replacement C accepts a silent connection of the caller and one of a
      // stranger. C was started after the caller showed the token: it knows it from the primary.
      const replacement = s.next((l) => l['message'] === 'certificate loaded' && l['worker'] === 3);
      process.kill(a, 'SIGKILL');
      await replacement;
      const second = await withOnly(b, async () => ({ spare: await open(port, '127.0.0.1'), stranger: await open(port, '127.0.0.2') }));
      await sleep(PAST_HEADERS_TIMEOUT_MS);
      expect(await states({ ...second, first: first.spare })).toEqual({ spare: 'open', stranger: 'closed: HTTP/1.1 408 Request Timeout', first: 'open' });

      // The spare connections carry reviews when the caller picks them.
      for (const c of [first.spare, second.spare]) {
        c.socket.write(review());
        expect(await c.answer()).toBe('HTTP/1.1 200 OK');
      }
      for (const c of [caller, first.spare, second.spare]) c.socket.destroy();
      expect(await s.stop()).toBe(0);
    });
  }, 90_000);
});
