/**
 * `serve --workers N` (src/cli/serve-workers.ts), as a process (the bundled CLI): one listening
 * line, every worker answering, the rules file reloaded in every worker, a dead worker replaced,
 * graceful shutdown of all of them on SIGTERM, and a start that fails once with its exit code.
 * Certificate rotation with two workers is in serve-fault.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { closeSync, constants, openSync } from 'node:fs';
import { createServer as createHttpServer, type ServerResponse } from 'node:http';
import { Agent } from 'node:https';
import { Socket } from 'node:net';
import { PassThrough, Writable } from 'node:stream';
import { copyFile, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { EXIT, main } from '../../src/cli/main.js';
import { LOG_FLUSH_BYTES, LOG_FLUSH_MS, logRelay, MAX_LINE_BYTES } from '../../src/cli/log-relay.js';
import { MAX_RESTART_DELAY_MS, RESTART_DELAY_MS, restartDelay, WORKER_STOP_DEADLINE_MS } from '../../src/cli/serve-workers.js';
import { bundleCli, bundleScript } from '../helpers/cli-bundle.js';
import { EVENT_TOKEN, loadEvent } from '../helpers/events.js';
import { FIXTURES, REPO_ROOT, TEST_ENV } from '../helpers/fixtures.js';
import { captureIo } from '../helpers/io.js';
import { childrenOf, rssKiB } from '../helpers/processes.js';
import { killAndWait, type LogLine, type Served, withServe } from '../helpers/serve-process.js';
import { createTestPki, httpsRequest, type TestPki } from '../helpers/tls.js';

let pki: TestPki;
let scratch: string;
let cli: string;
let tokenFile: string;
let logWorkers: string;

beforeAll(async () => {
  pki = await createTestPki();
  scratch = await mkdtemp(join(tmpdir(), 'serve-workers-'));
  cli = await bundleCli(join(scratch, 'cli.mjs'));
  logWorkers = await bundleScript(join(REPO_ROOT, 'tests', 'helpers', 'log-workers.ts'), join(scratch, 'log-workers.mjs'));
  tokenFile = join(scratch, 'token');
  await writeFile(tokenFile, `${EVENT_TOKEN}\n`);
}, 60_000);

afterAll(async () => {
  await pki.remove();
  await rm(scratch, { recursive: true, force: true });
});

/** Once `pred` held for a line of each of `workers` distinct workers. */
const fromEvery = (workers: number, pred: (l: LogLine) => boolean): ((l: LogLine) => boolean) => {
  const seen = new Set<unknown>();
  return (l) => {
    if (pred(l)) seen.add(l['worker']);
    return seen.size >= workers;
  };
};

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

async function demoImage(port: number): Promise<string> {
  const body = String(loadEvent('rest-pod-v1beta1-demo.json')['body']);
  const answer = await httpsRequest({ port, ca: pki.ca, method: 'POST', path: `/mutate/${EVENT_TOKEN}`, body, headers: { 'content-type': 'application/json' } });
  if (answer.status !== 200) return `status ${String(answer.status)}`;
  const review = JSON.parse(answer.body) as { response: { patch?: string } };
  const patch = JSON.parse(Buffer.from(review.response.patch ?? 'W10=', 'base64').toString('utf8')) as { path: string; value: string }[];
  return patch.find((op) => op.path === '/spec/containers/0/image')?.value ?? '(unchanged)';
}

async function rulesFile(fixture = 'valid-demo.yaml'): Promise<string> {
  const file = join(await mkdtemp(join(scratch, 'rules-')), 'rules.yaml');
  await copyFile(join(FIXTURES, fixture), file);
  return file;
}

/** Makes the rules file invalid (a rule without `replace`) and waits until both workers have said so. */
async function breakRules(s: Served, rules: string): Promise<void> {
  const invalid = s.next(fromEvery(2, (l) => l['message'] === 'rules document is invalid'));
  await writeFile(rules, 'rules:\n  - name: x\n    match: gcr.io\n');
  await invalid;
}

/** Replaces `file` whole (a temporary file renamed over it), as a ConfigMap's or Secret's update does. */
async function replaceFile(file: string, text: string): Promise<void> {
  await writeFile(`${file}.new`, text);
  await rename(`${file}.new`, file);
}

/**
 * serve's arguments with a certificate pair of its own (a copy of the test's), and a function that
 * makes its certificate file unusable: a replacement then cannot start, whatever its rules.
 */
async function ownCertificate(rules: string, workers: number): Promise<{ readonly args: string[]; readonly breakCertificate: () => Promise<void> }> {
  const dir = await mkdtemp(join(scratch, 'tls-'));
  const certFile = join(dir, 'tls.crt');
  const keyFile = join(dir, 'tls.key');
  await copyFile(pki.server.certFile, certFile);
  await copyFile(pki.server.keyFile, keyFile);
  const mapped = args(rules, workers).map((a) => (a === pki.server.certFile ? certFile : a === pki.server.keyFile ? keyFile : a));
  return { args: mapped, breakCertificate: () => replaceFile(certFile, 'not a certificate\n') };
}

const args = (rules: string, workers: number): string[] => [
  '--config',
  rules,
  '--listen',
  '127.0.0.1:0',
  '--tls-cert-file',
  pki.server.certFile,
  '--tls-private-key-file',
  pki.server.keyFile,
  '--token-file',
  tokenFile,
  '--workers',
  String(workers),
];

describe('serve --workers 2', () => {
  it('prints one listening line, answers from both workers, reloads the rules in each, and shuts all down on SIGTERM', async () => {
    const rules = await rulesFile();
    await withServe({ cli, args: args(rules, 2) }, async (s) => {
      const port = await s.port;
      expect(s.stdout()).toBe(`${JSON.stringify({ msg: 'listening', address: '127.0.0.1', port })}\n`);
      const workers = childrenOf(s.child.pid ?? 0);
      expect(workers).toHaveLength(2);

      await answeredByBoth(s, port, 'asia.gcr.io/nginx:latest'); // new connections are shared out: both workers answered

      const reloaded = s.next(fromEvery(2, (l) => l['message'] === 'rules loaded' && l['source'] === rules));
      await writeFile(rules, 'rules:\n  - name: eu\n    match: gcr.io\n    replace: eu.gcr.io\n');
      await reloaded;
      for (let i = 0; i < 8; i++) expect(await demoImage(port)).toBe('eu.gcr.io/nginx:latest');

      expect(await s.stop()).toBe(0);
      expect(workers.filter(alive)).toEqual([]);
      expect(s.logs.filter((l) => l['message'] === 'stopped').map((l) => l['worker']).sort()).toEqual([1, 2]);
      expect(s.stderr()).not.toContain(EVENT_TOKEN);
    });
  }, 60_000);

  // Regression: SIGHUP (a closed terminal, an operator's `kill -HUP` meant as a reload) had no
  // handler, so Node ended the primary at once: the workers went with it, the calls in flight cut,
  // nothing logged. It shuts down gracefully, as SIGTERM does.
  it('shuts all down gracefully on SIGHUP too, and says so', async () => {
    await withServe({ cli, args: args(await rulesFile(), 2) }, async (s) => {
      const port = await s.port;
      await answeredByBoth(s, port, 'asia.gcr.io/nginx:latest');
      const workers = childrenOf(s.child.pid ?? 0);
      s.child.kill('SIGHUP');
      expect(await s.exited).toBe(0);
      expect(workers.filter(alive)).toEqual([]);
      const stopping = s.logs.filter((l) => l['message'] === 'shutting down' && l['signal'] === 'SIGHUP');
      expect(stopping.map((l) => l['worker']).sort()).toEqual([1, 2]);
      expect(s.logs.filter((l) => l['message'] === 'stopped').map((l) => l['worker']).sort()).toEqual([1, 2]);
    });
  }, 60_000);

  // Regression: a worker that never ended its shutdown (stopped, or its event loop blocked) kept the
  // primary waiting for good after SIGTERM, with no line: only the kubelet's SIGKILL at the end of the
  // grace period ended serve. The primary now kills it after WORKER_STOP_DEADLINE_MS and says which.
  it('kills a worker that does not stop in time, says which, and exits 1', async () => {
    await withServe({ cli, args: args(await rulesFile(), 2) }, async (s) => {
      const port = await s.port;
      await answeredByBoth(s, port, 'asia.gcr.io/nginx:latest');
      const workers = childrenOf(s.child.pid ?? 0);
      const [victim] = workers;
      process.kill(victim ?? 0, 'SIGSTOP');
      const sent = Date.now();
      s.child.kill('SIGTERM');
      expect(await s.exited).toBe(1);
      expect(Date.now() - sent).toBeGreaterThanOrEqual(WORKER_STOP_DEADLINE_MS - 1_000);
      expect(workers.filter(alive)).toEqual([]);
      const killed = s.logs.filter((l) => l['message'] === 'worker did not stop in time; killing it');
      expect(killed).toHaveLength(1);
      expect(killed[0]).toMatchObject({ level: 'ERROR', waitedMs: WORKER_STOP_DEADLINE_MS });
      // The other worker stopped as usual.
      expect(s.logs.filter((l) => l['message'] === 'stopped')).toHaveLength(1);
    });
  }, 60_000);

  it('replaces a worker that dies and keeps answering', async () => {
    await withServe({ cli, args: args(await rulesFile(), 2) }, async (s) => {
      const port = await s.port;
      const [victim] = childrenOf(s.child.pid ?? 0);
      const replaced = s.next((l) => l['message'] === 'worker exited; starting another');
      const started = s.next((l) => l['message'] === 'certificate loaded' && l['worker'] === 3);
      process.kill(victim ?? 0, 'SIGKILL');
      await replaced;
      // The signal is said (an OOM kill is one); the code alone read 1, as if it had failed.
      const exited = s.logs.find((l) => l['message'] === 'worker exited; starting another');
      expect(exited).toMatchObject({ signal: 'SIGKILL' });
      expect(exited).not.toHaveProperty('code');
      await started;
      for (let i = 0; i < 4; i++) expect(await demoImage(port)).toBe('asia.gcr.io/nginx:latest');
      expect(childrenOf(s.child.pid ?? 0)).toHaveLength(2);
      expect(await s.stop()).toBe(0);
    });
  }, 60_000);

  // Regression: the primary handed each new connection to a worker (node:cluster's round-robin) and
  // kept it until the worker said it took it; a worker killed in between (the OOM killer, under load)
  // never said so, and the connection was left with the primary: never answered, never closed (the
  // API server's call hung until its timeoutSeconds and failed; the primary kept the socket in
  // CLOSE_WAIT for good). One such connection per kill with a Go client making a new connection per
  // call. The kernel now spreads the connections (SCHED_NONE): one a worker has not accepted waits
  // in the listening socket's queue for any worker alive.
  it('a connection arriving as a worker is killed is answered by another worker', async () => {
    await withServe({ cli, args: args(await rulesFile(), 2) }, async (s) => {
      const port = await s.port;
      const [victim] = childrenOf(s.child.pid ?? 0);
      // Stopped, the worker cannot take what it is handed: the window before the kill, made wide.
      process.kill(victim ?? 0, 'SIGSTOP');
      const answered: string[] = [];
      const calls = Array.from({ length: 4 }, () =>
        demoImage(port).then(
          (image) => {
            answered.push(image);
          },
          (e: unknown) => {
            answered.push(`error ${(e as Error).message}`);
          },
        ),
      );
      await until('3 of 4 calls answered', () => answered.length >= 3);
      const started = s.next((l) => l['message'] === 'certificate loaded' && l['worker'] === 3);
      process.kill(victim ?? 0, 'SIGKILL');
      const all = Promise.all(calls).then(() => 'all answered');
      const late = new Promise<string>((resolve) => {
        setTimeout(() => {
          resolve(`still waiting 4 s after the kill (${String(answered.length)} of 4 answered)`);
        }, 4_000).unref();
      });
      expect(await Promise.race([all, late])).toBe('all answered');
      expect(answered).toEqual(Array.from({ length: 4 }, () => 'asia.gcr.io/nginx:latest'));
      await started;
      expect(await s.stop()).toBe(0);
    });
  }, 30_000);

  // Regression: SIGTERM that reached the primary before it had seen a worker's death (the OOM killer
  // a moment earlier) counted the killed worker as a failed shutdown: exit 1, where the same kill a
  // little earlier (the worker replaced, then SIGTERM) exits 0 (QA-18: 2 of 2 with no delay between).
  it('exits 0 on SIGTERM right after a worker was killed, and logs the kill', async () => {
    await withServe({ cli, args: args(await rulesFile(), 2) }, async (s) => {
      await s.port;
      const [victim] = childrenOf(s.child.pid ?? 0);
      const logged = s.next((l) => l['signal'] === 'SIGKILL');
      process.kill(victim ?? 0, 'SIGKILL');
      expect(await s.stop()).toBe(0);
      // Either order of the two is logged: the kill seen first (a replacement scheduled, then
      // cancelled by the shutdown) or the shutdown first.
      await logged;
      const killed = s.logs.filter((l) => l['signal'] === 'SIGKILL');
      expect(killed).toHaveLength(1);
      expect(['worker exited during shutdown', 'worker exited; starting another']).toContain(killed[0]?.['message']);
    });
  }, 30_000);

  /**
   * The token's source changed by `change`, then a worker killed: once its replacement has started,
   * 8 calls with the token serve started with are all answered, by both workers.
   */
  async function replacedAfter(s: Served, change: () => unknown): Promise<void> {
    const port = await s.port;
    await change();
    const [victim] = childrenOf(s.child.pid ?? 0);
    const started = s.next((l) => l['message'] === 'certificate loaded' && l['worker'] === 3);
    process.kill(victim ?? 0, 'SIGKILL');
    await started;
    await answeredByBoth(s, port, 'asia.gcr.io/nginx:latest'); // the replacement too
  }

  // Regression: a replacement worker read --token-file again, so after the token Secret changed (and
  // before the Pods were restarted, as the README asks) a worker killed by the OOM killer came back
  // with the new token while the other kept the old: every other call was answered 401 (the API
  // server then admits the Pod unrewritten). The token is read once, at start, for every worker.
  it('a worker replaced after the token file changed answers with the token serve started with', async () => {
    const ownToken = join(await mkdtemp(join(scratch, 'token-')), 'token');
    await writeFile(ownToken, `${EVENT_TOKEN}\n`);
    const base = args(await rulesFile(), 2);
    await withServe({ cli, args: base.map((a) => (a === tokenFile ? ownToken : a)) }, async (s) => {
      await replacedAfter(s, () => writeFile(ownToken, 'another-token-0123456789abcdef\n'));
      expect(s.stderr()).not.toContain('another-token');
      expect(await s.stop()).toBe(0);
    });
  }, 60_000);

  // Regression (QA-22): with `--listen HOST:0`, the workers share the listening socket the primary
  // bound on a free port; when every worker died at once (the OOM killer, a node under pressure)
  // the primary closed it, and the replacements bound another free port: the port serve had
  // announced refused every connection from then on, with nothing logged.
  /** The demo Pod's image as `serve` on `port` answers it, asked every 100 ms (at most 50 times) until it does; else the last error's code. */
  async function answerOnceServing(port: number): Promise<string> {
    let answer = '';
    for (let i = 0; i < 50 && answer !== 'asia.gcr.io/nginx:latest'; i++) {
      answer = await demoImage(port).catch((e: unknown) => String((e as NodeJS.ErrnoException).code ?? e));
      if (answer !== 'asia.gcr.io/nginx:latest') await new Promise((resolve) => setTimeout(resolve, 100));
    }
    return answer;
  }

  it('with --listen HOST:0, replacements of workers that all died listen on the port serve announced', async () => {
    await withServe({ cli, args: args(await rulesFile(), 2) }, async (s) => {
      const port = await s.port;
      expect(await demoImage(port)).toBe('asia.gcr.io/nginx:latest');
      const started = s.next(fromEvery(2, (l) => l['message'] === 'certificate loaded' && Number(l['worker']) > 2));
      for (const pid of childrenOf(s.child.pid ?? 0)) process.kill(pid, 'SIGKILL');
      await started;
      expect(await answerOnceServing(port)).toBe('asia.gcr.io/nginx:latest');
      expect(await s.stop()).toBe(0);
    });
  }, 60_000);

  // Regression: the primary told a replacement the announced port only when it saw no worker alive
  // as it started it. Workers killed together reach it one by one: a replacement started between two
  // deaths listened on port 0 once the shared socket was closed, and got another free port (under CPU
  // load the test above failed most runs). The order is forced here: the second worker, stopped,
  // still holds the socket when the first one's replacement starts, and dies before it listens.
  it('with --listen HOST:0, a replacement started while the last worker holding the socket still lived listens on the port serve announced', async () => {
    await withServe({ cli, args: args(await rulesFile(), 2) }, async (s) => {
      const port = await s.port;
      expect(await demoImage(port)).toBe('asia.gcr.io/nginx:latest');
      // A worker that lived over a second is replaced at once.
      await new Promise((resolve) => setTimeout(resolve, 1100));
      const [first, second] = childrenOf(s.child.pid ?? 0);
      if (first === undefined || second === undefined) throw new Error('two workers expected');
      process.kill(second, 'SIGSTOP');
      const replacing = s.next((l) => l['message'] === 'worker exited; starting another');
      process.kill(first, 'SIGKILL');
      expect(await replacing).toMatchObject({ startInMs: 0 });
      const started = s.first(fromEvery(2, (l) => l['message'] === 'certificate loaded' && Number(l['worker']) > 2));
      process.kill(second, 'SIGKILL');
      await started;
      expect(await answerOnceServing(port)).toBe('asia.gcr.io/nginx:latest');
      expect(await s.stop()).toBe(0);
    });
  }, 60_000);

  // Regression (QA-22): the same with the token in SSM (WEBHOOK_TOKEN_PARAMETER) or Secrets Manager:
  // each worker read it at its own start, so a replacement started after the parameter changed took
  // the new token while the other kept the old, and about every other call of either got 401. The
  // README: serve reads its token only at start, like the Lambda. A stand-in for SSM answers
  // GetParameter with whatever `current` holds.
  it('a worker replaced after the token parameter changed answers with the token serve started with', async () => {
    let current = EVENT_TOKEN;
    let reads = 0;
    const ssm = createHttpServer((req, res) => {
      req.resume();
      req.on('end', () => {
        reads++;
        res.writeHead(200, { 'content-type': 'application/x-amz-json-1.1' });
        res.end(JSON.stringify({ Parameter: { Name: '/t/token', Type: 'SecureString', Value: current, Version: reads } }));
      });
    });
    await new Promise<void>((resolve) => ssm.listen(0, '127.0.0.1', resolve));
    const address = ssm.address();
    const endpoint = `http://127.0.0.1:${String(typeof address === 'object' && address !== null ? address.port : 0)}`;
    const base = args(await rulesFile(), 2).filter((a, i, all) => a !== '--token-file' && all[i - 1] !== '--token-file');
    const env = { WEBHOOK_TOKEN_PARAMETER: '/t/token', AWS_ENDPOINT_URL: endpoint, AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test' };
    try {
      await withServe({ cli, args: base, env }, async (s) => {
        await replacedAfter(s, () => {
          current = 'another-token-0123456789abcdef';
        });
        expect(await s.stop()).toBe(0);
      });
    } finally {
      ssm.close();
    }
  }, 60_000);

  // Regression: rules in SSM were read only when a review asked for them (as on Lambda, where
  // nothing runs between invocations), so an idle serve never noticed a bad version pushed to the
  // parameter (no `rules document is invalid`, image_rewriter_rules_stale 0) nor, once stale, the fix
  // (the RulesStale alert kept firing). It now asks between requests: each worker reads on its TTL.
  it('reads rules kept in SSM on their TTL with no review coming, and says so when a version is invalid', async () => {
    let current = 'rules:\n  - name: gcr\n    match: gcr.io\n    replace: asia.gcr.io\n';
    let version = 1;
    const ssm = createHttpServer((req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'application/x-amz-json-1.1' });
        res.end(JSON.stringify({ Parameter: { Name: '/t/rules', Type: 'String', Value: current, Version: version } }));
      });
    });
    await new Promise<void>((resolve) => ssm.listen(0, '127.0.0.1', resolve));
    const address = ssm.address();
    const endpoint = `http://127.0.0.1:${String(typeof address === 'object' && address !== null ? address.port : 0)}`;
    const base = args(await rulesFile(), 2).filter((a, i, all) => a !== '--config' && all[i - 1] !== '--config');
    const env = { REWRITE_RULES_PARAMETER: '/t/rules', REWRITE_RULES_TTL_SECONDS: '1', AWS_ENDPOINT_URL: endpoint, AWS_REGION: 'us-east-1', AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test' };
    try {
      await withServe({ cli, args: base, env }, async (s) => {
        await s.port;
        const invalid = s.next(fromEvery(2, (l) => l['message'] === 'rules document is invalid' && l['version'] === '2'));
        current = 'rules:\n  - name: gcr\n    match: gcr.io\n';
        version = 2;
        await invalid;
        const fixed = s.next(fromEvery(2, (l) => l['message'] === 'rules loaded' && l['version'] === '3'));
        current = 'rules:\n  - name: eu\n    match: gcr.io\n    replace: eu.gcr.io\n';
        version = 3;
        await fixed;
        expect(s.logs.filter((l) => l['message'] === 'admission reviewed')).toEqual([]);
        expect(await demoImage(await s.port)).toBe('eu.gcr.io/nginx:latest');
        expect(await s.stop()).toBe(0);
      });
    } finally {
      ssm.close();
    }
  }, 60_000);

  // Regression: with good rules in force, the review that came first after the TTL started the read
  // of the parameter and waited for it: a slow SSM (an answer held past the read's 3 s bound) held
  // that review 3 s, one in a few. serve's own check reads the parameter; reviews never wait for it.
  it('answers reviews with the good rules in force while a read of the parameter hangs, never waiting for it', async () => {
    let reads = 0;
    const held = new Set<ServerResponse>();
    const ssm = createHttpServer((req, res) => {
      req.resume();
      req.on('end', () => {
        reads++;
        // The first read answers; every later one is held until the client gives up.
        if (reads > 1) {
          held.add(res);
          return;
        }
        res.writeHead(200, { 'content-type': 'application/x-amz-json-1.1' });
        res.end(JSON.stringify({ Parameter: { Name: '/t/rules', Type: 'String', Value: 'rules:\n  - name: eu\n    match: gcr.io\n    replace: eu.gcr.io\n', Version: 1 } }));
      });
    });
    await new Promise<void>((resolve) => ssm.listen(0, '127.0.0.1', resolve));
    const address = ssm.address();
    const endpoint = `http://127.0.0.1:${String(typeof address === 'object' && address !== null ? address.port : 0)}`;
    const base = args(await rulesFile(), 1).filter((a, i, all) => a !== '--config' && all[i - 1] !== '--config');
    const env = { REWRITE_RULES_PARAMETER: '/t/rules', REWRITE_RULES_TTL_SECONDS: '1', AWS_ENDPOINT_URL: endpoint, AWS_REGION: 'us-east-1', AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test' };
    try {
      await withServe({ cli, args: base, env }, async (s) => {
        const port = await s.port;
        // Reviews back to back for 6 s: two hung reads (3 s each) and the backoffs between them.
        const slowest: number[] = [];
        const until = performance.now() + 6000;
        while (performance.now() < until) {
          const started = performance.now();
          expect(await demoImage(port)).toBe('eu.gcr.io/nginx:latest');
          slowest.push(performance.now() - started);
        }
        expect(reads).toBeGreaterThanOrEqual(2);
        expect(s.logs.filter((l) => l['message'] === 'cannot read the rules parameter').length).toBeGreaterThanOrEqual(1);
        // The read's bound is 3 s: a review that waited for one took that long.
        expect(Math.max(...slowest)).toBeLessThan(2000);
        expect(await s.stop()).toBe(0);
      });
    } finally {
      for (const res of held) res.destroy();
      ssm.close();
    }
  }, 60_000);

  // The primary hands the token file's text to its workers in a variable of its own: one the
  // primary found already set in its environment (from whoever started it) must never reach them
  // as the token when the primary itself could not read the file.
  it('workers never take the token from a variable the primary inherited', async () => {
    const missing = join(await mkdtemp(join(scratch, 'token-')), 'absent');
    const base = args(await rulesFile(), 2);
    const env = { IMAGE_REWRITER_TOKEN_TEXT: `${EVENT_TOKEN}\n`, IMAGE_REWRITER_REPLACEMENT: '1' };
    await withServe({ cli, args: base.map((a) => (a === tokenFile ? missing : a)), env }, async (s) => {
      const code = await Promise.race([s.exited, s.port.then(() => 'listening' as const)]);
      expect(code).toBe(EXIT.failure);
      expect(s.stderr()).toContain('absent');
      // Nor does an inherited IMAGE_REWRITER_REPLACEMENT make a first worker a replacement: the
      // CLI's plain report, not the JSON line of a worker that cannot start.
      expect(s.stderr()).toMatch(/^error: cannot read --token-file .*absent: no such file or directory \(ENOENT\)$/m);
      expect(s.stderr()).not.toContain('worker cannot start');
    });
  }, 60_000);

  // The primary hands the token file's text to its workers in a variable (IMAGE_REWRITER_TOKEN_TEXT):
  // not a text that no variable can hold, which made the fork fail ("error: spawn E2BIG", or an
  // invalid argument for a NUL; exit 1) instead of the workers' report of the token, as one worker gives.
  it.each([
    // Bytes that are not UTF-8 (a binary file given by mistake) read as U+FFFD, three bytes each:
    // 60,000 of them are 180,000 bytes of text, past Linux's 128 KiB for one variable.
    ['bytes that are not UTF-8', Buffer.alloc(60_000, 0xff)],
    ['a NUL', Buffer.from(`${EVENT_TOKEN}\0\n`)],
  ])('a token file of %s: the workers say what is wrong with the token, exit 64, as one worker does', async (_why, bytes) => {
    const dir = await mkdtemp(join(scratch, 'token-'));
    const file = join(dir, 'token');
    await writeFile(file, bytes);
    await withServe({ cli, args: args(await rulesFile(), 2).map((a) => (a === tokenFile ? file : a)) }, async (s) => {
      const code = await Promise.race([s.exited, s.port.then(() => 'listening' as const)]);
      expect({ code, spawnError: /spawn|ERR_INVALID_ARG_VALUE/.test(s.stderr()) }).toEqual({ code: EXIT.usage, spawnError: false });
      expect(s.stderr()).toContain('error: the webhook token in --token-file');
    });
  }, 60_000);

  // Regression: a replacement that could not start (rules made invalid, a certificate pair caught
  // half-rotated) printed the CLI's plain-text report (`error: ...`, one line per problem) into the
  // log of a running serve, one JSON document per line otherwise; for a certificate or a token, that
  // text was the only place the reason was written.
  // (A rules file made invalid no longer stops a replacement: see the last good rules test below.)
  it('a replacement worker that cannot start says why in JSON log lines, no plain text', async () => {
    const own = await ownCertificate(await rulesFile(), 2);
    await withServe({ cli, args: own.args }, async (s) => {
      await s.port;
      await own.breakCertificate();
      const [victim] = childrenOf(s.child.pid ?? 0);
      const failed = s.next((l) => l['message'] === 'worker exited; starting another' && (l['exitCode'] ?? l['code']) === EXIT.failure);
      process.kill(victim ?? 0, 'SIGKILL');
      // Regression (QA-37): the exit code was `code`, a number, where serve's other lines have a
      // string (`tls handshake failed`); a log store typing fields by their first value refused one.
      expect(await failed).toMatchObject({ exitCode: EXIT.failure });
      expect(await failed).not.toHaveProperty('code');
      expect(await s.stop()).toBe(0);
      expect(s.stderr().split('\n').filter((l) => l !== '' && !l.startsWith('{'))).toEqual([]);
      const cannot = s.logs.find((l) => l['message'] === 'worker cannot start');
      expect(cannot).toMatchObject({ level: 'ERROR', worker: 3 });
      // The text without its "error: " (the line's level says so).
      expect(String(cannot?.['reason'])).not.toMatch(/^error: /);
      expect(String(cannot?.['reason'])).toContain('tls.crt');
    });
  }, 60_000);

  // Regression: a worker that died sooner than a second after its start was replaced after a
  // delay (doubled for each in a row), one that lived longer at once: a replacement that cannot
  // start but takes over a second to fail (a loaded node: the test above then had a second
  // replacement start, fail and turn the shutdown's exit code to 1) was replaced at once, every
  // time, a crash loop without delay. What counts now is how long it served.
  it('a replacement that cannot start is replaced after a delay, however long it took to fail', async () => {
    // Replacements start slowly (1.2 s at startup), as on a loaded node.
    const hook = join(scratch, 'slow-replacement.mjs');
    await writeFile(hook, "if (process.env.IMAGE_REWRITER_REPLACEMENT === '1') Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1200);\n");
    const own = await ownCertificate(await rulesFile(), 2);
    await withServe({ cli, args: own.args, nodeArgs: ['--import', pathToFileURL(hook).href] }, async (s) => {
      await s.port;
      // A worker that served over a second is replaced at once: the delay is the replacement's.
      await new Promise((resolve) => setTimeout(resolve, 1100));
      await own.breakCertificate();
      const [victim] = childrenOf(s.child.pid ?? 0);
      const failed = s.next((l) => l['message'] === 'worker exited; starting another' && l['workerId'] === 3);
      process.kill(victim ?? 0, 'SIGKILL');
      const line = await failed;
      expect(line).toMatchObject({ exitCode: EXIT.failure });
      expect(line['livedMs']).toBeGreaterThanOrEqual(1200);
      expect(line['startInMs']).toBe(RESTART_DELAY_MS);
      // And the next one, as slow to fail, after twice that: the deaths count as quick from the
      // listening line, which none of them reached (not from their start, over a second before).
      const again = await s.next((l) => l['message'] === 'worker exited; starting another' && l['workerId'] === 4);
      expect(again['livedMs']).toBeGreaterThanOrEqual(1200);
      expect(again['startInMs']).toBe(2 * RESTART_DELAY_MS);
    });
  }, 60_000);

  // Regression: a worker started while the rules file was invalid (a replacement of one the OOM
  // killer or a crash ended) read the file, could not start (exit 2), and was retried after 1, 2,
  // 4... up to 60 s: capacity halved, and once every worker had died nothing listened until the
  // file was fixed. It now serves the last good rules the others loaded, and follows the file.
  /**
   * Calls, each answered with `image`, until both workers have answered some (at least 8, at most
   * 200): the kernel hands each new connection to whichever worker accepts first, and 8 calls in a
   * row all went to one worker now and then on a loaded machine.
   */
  async function answeredByBoth(s: Served, port: number, image: string): Promise<void> {
    const seen = { both: false };
    const answered = s.next(fromEvery(2, (l) => l['message'] === 'request')).then(() => {
      seen.both = true;
    });
    for (let i = 0; i < 200 && (i < 8 || !seen.both); i++) {
      expect(await demoImage(port)).toBe(image);
      // Past 8, a pause lets the log lines of the calls so far reach the test.
      if (i >= 8 && !seen.both) await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await answered;
  }

  it('a replacement started while the rules file is invalid serves the last good rules, says so, and takes the next valid version with the others', async () => {
    const rules = await rulesFile();
    await withServe({ cli, args: args(rules, 2) }, async (s) => {
      const port = await s.port;
      expect(await demoImage(port)).toBe('asia.gcr.io/nginx:latest');
      const invalid = s.next(fromEvery(2, (l) => l['message'] === 'rules document is invalid'));
      await replaceFile(rules, 'rules:\n  - name: x\n    match: gcr.io\n');
      await invalid;
      const [victim] = childrenOf(s.child.pid ?? 0);
      const replaced = s.next((l) => l['message'] === 'worker exited; starting another');
      const started = s.next((l) => l['message'] === 'certificate loaded' && l['worker'] === 3);
      const fallback = s.first((l) => l['message'] === 'using the last good rules of the other workers' && l['worker'] === 3);
      process.kill(victim ?? 0, 'SIGKILL');
      expect(await replaced).toMatchObject({ signal: 'SIGKILL' });
      await started;
      expect(await fallback).toMatchObject({ level: 'WARN', source: rules, because: 'the rules document is invalid', ruleCount: 2 });
      expect(s.logs.find((l) => l['message'] === 'rules document is invalid' && l['worker'] === 3)).toBeDefined();
      await answeredByBoth(s, port, 'asia.gcr.io/nginx:latest'); // the replacement answered some of them
      const health = await httpsRequest({ port, ca: pki.ca, method: 'GET', path: '/healthz' });
      expect(health.status).toBe(200);
      expect(s.logs.filter((l) => l['message'] === 'worker exited; starting another')).toHaveLength(1);
      expect(s.logs.find((l) => l['message'] === 'worker cannot start')).toBeUndefined();
      expect(childrenOf(s.child.pid ?? 0)).toHaveLength(2);

      const reloaded = s.next(fromEvery(2, (l) => l['message'] === 'rules loaded' && l['source'] === rules));
      await replaceFile(rules, 'rules:\n  - name: eu\n    match: gcr.io\n    replace: eu.gcr.io\n');
      await reloaded;
      // Worker 3 had loaded nothing of its own: this is its first `rules loaded`.
      expect(s.logs.filter((l) => l['message'] === 'rules loaded' && l['worker'] === 3)).toHaveLength(1);
      await answeredByBoth(s, port, 'eu.gcr.io/nginx:latest');
      expect(await s.stop()).toBe(0);
    });
  }, 60_000);

  it('both workers killed one after the other while the rules file is invalid: serve keeps listening and answering with the last good rules', async () => {
    const rules = await rulesFile();
    await withServe({ cli, args: args(rules, 2) }, async (s) => {
      const port = await s.port;
      await breakRules(s, rules);
      const first = childrenOf(s.child.pid ?? 0);
      for (const [i, victim] of first.entries()) {
        const started = s.next((l) => l['message'] === 'using the last good rules of the other workers' && l['worker'] === 3 + i);
        const listening = s.next((l) => l['message'] === 'certificate loaded' && l['worker'] === 3 + i);
        process.kill(victim, 'SIGKILL');
        await Promise.all([started, listening]);
        for (let n = 0; n < 4; n++) expect(await demoImage(port)).toBe('asia.gcr.io/nginx:latest');
      }
      expect(childrenOf(s.child.pid ?? 0).filter((pid) => first.includes(pid))).toEqual([]);
      expect(childrenOf(s.child.pid ?? 0)).toHaveLength(2);
      // No replacement failed (none in a restart backoff): two deaths, two replacements serving.
      expect(s.logs.filter((l) => l['message'] === 'worker exited; starting another')).toHaveLength(2);
      expect(s.logs.find((l) => l['message'] === 'worker cannot start')).toBeUndefined();
      expect(await s.stop()).toBe(0);
    });
  }, 60_000);

  // Regression: a SIGTERM while a replacement was waiting to start, or was starting, left a worker
  // serving with nobody to stop it (the replacement was started anyway; the shutdown message reached
  // the new worker before it listened for it), and the primary waited for it forever.
  /**
   * The primary's exit code once it and every worker have ended (a worker holds the stderr pipe it
   * inherited: it closes when the last one ends), or 'still running' after `ms`; and every worker that
   * logged anything was shut down gracefully.
   */
  const allEnded = async (s: Served, ms: number): Promise<number | null | 'still running'> => {
    const closed = new Promise<void>((resolve) => s.child.stderr?.once('close', () => { resolve(); }));
    const ended = await Promise.race([closed.then(() => 'ended' as const), new Promise<'still running'>((resolve) => setTimeout(() => { resolve('still running'); }, ms).unref())]);
    if (ended === 'still running') return ended;
    const killed = new Set(s.logs.filter((l) => l['message'] === 'worker exited; starting another').map((l) => l['workerId']));
    const workers = new Set(s.logs.map((l) => l['worker']).filter((w) => typeof w === 'number' && w !== 0 && !killed.has(w)));
    const stopped = new Set(s.logs.filter((l) => l['message'] === 'stopped').map((l) => l['worker']));
    expect([...workers].filter((w) => !stopped.has(w))).toEqual([]);
    return s.exited;
  };

  it('SIGTERM just after a worker died: its replacement does not outlive the primary, which exits 0', async () => {
    await withServe({ cli, args: args(await rulesFile(), 2) }, async (s) => {
      await s.port;
      // A worker that lived over a second is replaced at once (a younger one after a second).
      await new Promise((resolve) => setTimeout(resolve, 1100));
      const [victim] = childrenOf(s.child.pid ?? 0);
      if (victim === undefined) throw new Error('no worker found');
      const replaced = s.next((l) => l['message'] === 'worker exited; starting another' && typeof l['livedMs'] === 'number' && l['livedMs'] >= 1000);
      process.kill(victim, 'SIGKILL');
      await replaced; // its replacement is forked now, and still loading
      s.child.kill('SIGTERM');
      expect(await allEnded(s, 15_000)).toBe(0);
    });
  }, 60_000);

  it('SIGTERM while a replacement waits out its restart delay: none is started, and the primary exits 0', async () => {
    await withServe({ cli, args: args(await rulesFile(), 2) }, async (s) => {
      await s.port;
      const first = childrenOf(s.child.pid ?? 0);
      if (first[0] === undefined) throw new Error('no worker found');
      const firstReplacement = s.next((l) => l['worker'] === 3);
      process.kill(first[0], 'SIGKILL');
      await firstReplacement; // its first log line: it runs
      // The replacement dies before it has served a second: the next one waits a second before it starts.
      const delayed = s.next((l) => l['message'] === 'worker exited; starting another' && typeof l['startInMs'] === 'number' && l['startInMs'] >= 1000);
      const replacement = childrenOf(s.child.pid ?? 0).find((pid) => !first.includes(pid));
      if (replacement === undefined) throw new Error('no replacement worker found');
      process.kill(replacement, 'SIGKILL');
      await delayed;
      s.child.kill('SIGTERM');
      expect(await allEnded(s, 15_000)).toBe(0);
      expect(s.logs.map((l) => l['worker'])).not.toContain(4);
    });
  }, 60_000);

  // Regression: the primary kept the timer of a replacement waiting out its delay (up to 60 s while
  // replacements keep failing: a certificate file left broken), so after SIGTERM it exited only when that
  // timer fired: past a Pod's terminationGracePeriodSeconds (30 s, deploy/serve.yaml), a SIGKILL.
  it('SIGTERM while a replacement waits out a long restart delay: the primary exits at once', async () => {
    const own = await ownCertificate(await rulesFile(), 2);
    await withServe({ cli, args: own.args }, async (s) => {
      await s.port;
      await own.breakCertificate();
      // Replacements fail at start: 1 s, 2 s, then a 4 s wait.
      const long = s.next((l) => l['message'] === 'worker exited; starting another' && typeof l['startInMs'] === 'number' && l['startInMs'] >= 4000);
      process.kill(childrenOf(s.child.pid ?? 0)[0] ?? 0, 'SIGKILL');
      await long;
      const signalled = performance.now();
      expect(await s.stop()).toBe(0);
      expect(performance.now() - signalled).toBeLessThan(2500);
    });
  }, 60_000);

  it('fails once, with the exit code and report of the first worker, when the configuration cannot start', async () => {
    await withServe({ cli, args: args(await rulesFile('invalid-missing-replace.yaml'), 2) }, async (s) => {
      expect(await s.exited).toBe(EXIT.invalidConfig);
      expect(s.stdout()).toBe('');
      expect(s.stderr().match(/error: invalid rules document/g)).toHaveLength(1);
      expect(s.stderr()).toContain('rules[0].replace: is required');
    });
  }, 60_000);

  it.each([
    ['--max-body-bytes', '10MB'],
    ['--listen', 'nonsense'],
  ])('exits 64 at once on a usage error its workers find (%s %s), primary and worker', async (flag, value) => {
    // The worker parses serve's flags; its IPC channel to the primary used to keep it (and so the
    // primary, waiting for it) running after it printed the error.
    const base = args(await rulesFile(), 2);
    const at = base.indexOf(flag);
    await withServe({ cli, args: at >= 0 ? base.map((a, i) => (i === at + 1 ? value : a)) : [...base, flag, value] }, async (s) => {
      expect(await s.exited).toBe(EXIT.usage);
      expect(s.stdout()).toBe('');
      expect(s.stderr()).toContain(`error: ${flag} must be`);
    });
  }, 30_000);

  it.each(['0', '257', 'two', '1.5'])('refuses --workers %s (usage)', async (n) => {
    const io = captureIo();
    expect(await main(['serve', '--listen', '127.0.0.1:0', '--tls-cert-file', 'c', '--tls-private-key-file', 'k', '--workers', n], io)).toBe(EXIT.usage);
    expect(io.err()).toContain('--workers must be a whole number from 1 to 256');
  });
});

/**
 * A script (the CLI, tests/helpers/log-workers.ts) run with its stderr a real pipe (a FIFO, as a
 * container's stderr is; a child's 'pipe' stdio is a socket pair), read here: its lines so far, its stdout.
 */
interface Piped {
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;
  /** Resolves once the pipe reaches its end (every writer closed it). */
  readonly ended: Promise<void>;
  readonly lines: () => string[];
  readonly stdout: () => string;
  readonly reader: Socket;
}

function onPipe(args: readonly string[], env: NodeJS.ProcessEnv = { ...process.env, POWERTOOLS_LOG_LEVEL: 'INFO' }): Piped {
  const fifo = join(scratch, `stderr-${String(Date.now())}-${String(Math.random()).slice(2)}`);
  execFileSync('mkfifo', [fifo]);
  const readFd = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
  const writeFd = openSync(fifo, 'w');
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', writeFd], env });
  closeSync(writeFd);
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  const reader = new Socket({ fd: readFd, readable: true, writable: false });
  const chunks: Buffer[] = [];
  reader.on('data', (d: Buffer) => chunks.push(d));
  const ended = new Promise<void>((resolve) => reader.once('end', () => { resolve(); }));
  let stdout = '';
  child.stdout?.on('data', (d: Buffer) => { stdout += d.toString('utf8'); });
  const lines = (): string[] => Buffer.concat(chunks).toString('utf8').split('\n').slice(0, -1);
  return { child, exited, ended, lines, stdout: () => stdout, reader };
}

const until = async (what: string, ready: () => boolean, ms = 20_000): Promise<void> => {
  const deadline = Date.now() + ms;
  while (!ready()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
};

const parsed = (line: string): LogLine | undefined => {
  try {
    return JSON.parse(line) as LogLine;
  } catch {
    return undefined;
  }
};
const linesOf = (lines: readonly string[], worker: number): LogLine[] => lines.map(parsed).filter((l): l is LogLine => l?.['worker'] === worker);

/** Every line of `worker` came once, in order: seq 0, 1, 2... then its shutdown lines, the last counting them. */
function expectWholeInOrder(lines: readonly string[], worker: number): void {
  const own = linesOf(lines, worker);
  const count = own.length - 2;
  expect(count).toBeGreaterThan(0);
  expect(own.slice(0, -2).map((l) => l['seq'])).toEqual(Array.from({ length: count }, (_, i) => i));
  expect(own.slice(-2)).toEqual([{ worker, msg: 'shutting down' }, { worker, msg: 'stopped', lines: count }]);
}

describe('serve --workers: log lines of 10 to 100 KB into one pipe', () => {
  // Regression: each worker wrote to the shared stderr itself; a line over PIPE_BUF (4 KiB) took
  // several writes, and another worker's write landed between them: broken JSON for the collector.
  it('serve: admission reviewed lines of many long rewrites come whole, each once, and every shutdown line', async () => {
    const p = onPipe([cli, 'serve', ...args(await rulesFile(), 2)], { ...process.env, ...TEST_ENV, POWERTOOLS_LOG_LEVEL: 'INFO' });
    try {
      await until('the listening line', () => p.stdout().includes('\n'));
      const { port } = JSON.parse(p.stdout()) as { port: number };
      // 20 containers whose images are near the longest a reference may be: a review line of about 13 KB.
      const containers = Array.from({ length: 20 }, (_, i) => ({ name: `c${String(i)}`, image: `gcr.io/${'p'.repeat(60)}/${'a'.repeat(60)}/${'b'.repeat(60)}/i${String(i)}:${'t'.repeat(100)}` }));
      const body = JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { uid: '705ab4f5-6393-11e8-b7cc-42010a800002', kind: { group: '', version: 'v1', kind: 'Pod' }, resource: { group: '', version: 'v1', resource: 'pods' }, namespace: 'default', operation: 'CREATE', object: { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: { containers } } } });
      const agent = new Agent({ keepAlive: true, maxSockets: 8 });
      const requests = 240;
      let sent = 0;
      const statuses: number[] = [];
      await Promise.all(Array.from({ length: 8 }, async () => {
        while (sent < requests) {
          sent++;
          statuses.push((await httpsRequest({ port, ca: pki.ca, method: 'POST', path: `/mutate/${EVENT_TOKEN}`, body, headers: { 'content-type': 'application/json' }, agent })).status);
        }
      }));
      agent.destroy();
      expect(statuses.filter((c) => c !== 200)).toEqual([]);
      p.child.kill('SIGTERM');
      expect(await p.exited).toBe(0);
      await p.ended;
      const lines = p.lines();
      expect(lines.filter((l) => parsed(l) === undefined).map((l) => l.slice(0, 200))).toEqual([]);
      const logs = lines.map(parsed);
      const reviewed = logs.filter((l) => l?.['message'] === 'admission reviewed');
      expect(reviewed).toHaveLength(requests);
      expect(Math.min(...reviewed.map((l) => JSON.stringify(l).length))).toBeGreaterThan(10_000);
      expect(logs.filter((l) => l?.['message'] === 'stopped').map((l) => l?.['worker']).sort()).toEqual([1, 2]);
      // Regression (QA-37): the primary's lines had `worker: "primary"` beside the workers' numbers,
      // and a log store that types a field by its first value (Elasticsearch, OpenSearch) dropped
      // the lines of the other type. One type: the primary is worker 0.
      expect(logs.find((l) => l?.['message'] === 'workers listening')).toMatchObject({ worker: 0 });
      expect([...new Set(logs.filter((l) => l?.['message'] !== undefined).map((l) => typeof l?.['worker']))]).toEqual(['number']);
    } finally {
      await killAndWait(p.child, p.exited);
    }
  }, 60_000);

  it('come whole, each once and in order per worker, none lost at shutdown, and the primary stays small while the pipe is not read', async () => {
    const p = onPipe([logWorkers]);
    try {
      const enough = (n: number) => (): boolean => [1, 2].every((w) => linesOf(p.lines(), w).length >= n);
      await until('lines from both workers', enough(30));
      // A reader that stops: the primary holds back, its memory does not follow the workers' output.
      p.reader.pause();
      await new Promise((resolve) => setTimeout(resolve, 1500));
      const pid = p.child.pid ?? 0;
      expect(rssKiB(pid)).toBeLessThan(150 * 1024);
      p.reader.resume();
      await until('more lines from both workers', enough(80));
      p.child.kill('SIGTERM');
      expect(await p.exited).toBe(0);
      await p.ended;
      const lines = p.lines();
      expect(lines.filter((l) => parsed(l) === undefined).map((l) => l.slice(0, 200))).toEqual([]);
      expectWholeInOrder(lines, 1);
      expectWholeInOrder(lines, 2);
      expect(lines.map(parsed).filter((l) => l?.['worker'] === 0).map((l) => l?.['message'])).toEqual(['workers listening']);
    } finally {
      await killAndWait(p.child, p.exited);
    }
  }, 60_000);

  it('a worker killed mid-line leaves its part of the line on a line of its own, nothing glued to it', async () => {
    const p = onPipe([logWorkers, 'partial']);
    try {
      await until('the partial line', () => p.stdout().includes('partial '));
      const [, pid, length] = /partial (\d+) (\d+)/.exec(p.stdout()) ?? [];
      const worker2 = linesOf(p.lines(), 2).length;
      await until('worker 2 writing on', () => linesOf(p.lines(), 2).length >= worker2 + 10);
      process.kill(Number(pid), 'SIGKILL');
      await until('its replacement', () => linesOf(p.lines(), 3).length >= 10);
      p.child.kill('SIGTERM');
      expect(await p.exited).toBe(0);
      await p.ended;
      const lines = p.lines();
      const broken = lines.filter((l) => parsed(l) === undefined);
      expect(broken.map((l) => l.slice(0, 40))).toEqual(['{"worker":1,"seq":20,"pad":"xxxxxxxxxxxx']);
      expect(broken[0]).toMatch(/^\{"worker":1,"seq":20,"pad":"x+$/);
      expect(broken[0]).toHaveLength(Number(length));
      expect(linesOf(lines, 1).map((l) => l['seq'])).toEqual(Array.from({ length: 20 }, (_, i) => i));
      expectWholeInOrder(lines, 2);
      expectWholeInOrder(lines, 3);
      expect(lines.map(parsed).find((l) => l?.['message'] === 'worker exited; starting another')).toMatchObject({ worker: 0, signal: 'SIGKILL' });
    } finally {
      await killAndWait(p.child, p.exited);
    }
  }, 60_000);
});

describe('logRelay', () => {
  /** A writer that takes `highWaterMark` bytes, then reports full until `drain()`. */
  const sink = (highWaterMark = 1 << 20): { out: Writable; writes: string[]; drain: () => void } => {
    const writes: string[] = [];
    let release: (() => void) | undefined;
    const out = new Writable({
      highWaterMark,
      write(chunk: Buffer, _enc, done) {
        writes.push(chunk.toString('utf8'));
        if (highWaterMark >= 1 << 20) done();
        else release = done;
      },
    });
    const drain = (): void => {
      const r = release;
      release = undefined;
      r?.();
    };
    return { out, writes, drain };
  };

  it('writes whole lines only, in order per stream, whatever the chunks; a tail cut by the stream end gets its newline', async () => {
    const { out, writes } = sink();
    const relay = logRelay(out);
    const a = new PassThrough();
    const b = new PassThrough();
    const done = Promise.all([relay.relay(a), relay.relay(b)]);
    a.write('a1\na2-');
    b.write('b1-');
    relay.write('primary\n');
    a.write('part\na3');
    b.write('part\n');
    a.write('-more-');
    b.end('b2\nb3 killed mid-li');
    a.end('end\n');
    await done;
    for (const w of writes) expect(w.endsWith('\n')).toBe(true);
    const lines = writes.join('').split('\n').slice(0, -1);
    expect(lines.filter((l) => l.startsWith('a'))).toEqual(['a1', 'a2-part', 'a3-more-end']);
    expect(lines.filter((l) => l.startsWith('b'))).toEqual(['b1-part', 'b2', 'b3 killed mid-li']);
    expect(lines).toContain('primary');
    expect(writes.join('').length).toBe('a1\na2-part\na3-more-end\nb1-part\nb2\nb3 killed mid-li\nprimary\n'.length);
  });

  it('writes what waits together, pauses the streams while the writer is full, resumes them on drain, and cuts a line longer than MAX_LINE_BYTES', async () => {
    const { out, writes, drain } = sink(16);
    const relay = logRelay(out);
    const a = new PassThrough();
    const b = new PassThrough();
    const done = Promise.all([relay.relay(a), relay.relay(b)]);
    // After a quiet spell a line goes out at the next turn; what follows within LOG_FLUSH_MS waits for one write.
    relay.write('p\n');
    await new Promise((resolve) => setImmediate(resolve));
    expect(writes).toEqual(['p\n']);
    drain();
    a.write(`${'x'.repeat(100)}\n`);
    b.write(`${'y'.repeat(100)}\n`);
    await new Promise((resolve) => setTimeout(resolve, LOG_FLUSH_MS + 20));
    expect(writes).toEqual(['p\n', `${'x'.repeat(100)}\n${'y'.repeat(100)}\n`]);
    expect(a.isPaused()).toBe(true);
    expect(b.isPaused()).toBe(true);
    a.end('z'.repeat(MAX_LINE_BYTES + 1));
    b.end();
    for (let i = 0; i < 10; i++) {
      drain();
      await new Promise((resolve) => setTimeout(resolve, LOG_FLUSH_MS + 5));
    }
    await done;
    expect(writes).toEqual(['p\n', `${'x'.repeat(100)}\n${'y'.repeat(100)}\n`, `${'z'.repeat(MAX_LINE_BYTES + 1)}\n`]);
  });

  it('writes at once what reaches LOG_FLUSH_BYTES', () => {
    const { out, writes } = sink();
    const relay = logRelay(out);
    const a = new PassThrough();
    void relay.relay(a);
    a.write(`${'x'.repeat(LOG_FLUSH_BYTES)}\n`);
    expect(writes).toHaveLength(1);
    a.destroy();
  });
});

describe('restartDelay', () => {
  it('replaces a worker that lived at once, and one that died young after 1, 2, 4... s, at most 60 s', () => {
    expect(restartDelay(RESTART_DELAY_MS, 0)).toBe(0);
    expect(restartDelay(3_600_000, 7)).toBe(0);
    expect([0, 1, 2, 3, 4, 5, 6, 7, 40].map((n) => restartDelay(200, n))).toEqual([1000, 2000, 4000, 8000, 16_000, 32_000, 60_000, 60_000, MAX_RESTART_DELAY_MS]);
  });
});
