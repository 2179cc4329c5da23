/**
 * `image-rewriter serve`: flags, the listening line, the real handler behind real TLS, the token,
 * rules reloaded from the file (an invalid one keeps the last good rules), and shutdown on SIGTERM.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { execFileSync, spawn } from 'node:child_process';
import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { copyFile, mkdtemp, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EXIT, type Io, main } from '../../src/cli/main.js';
import { batchedLines, MAX_LOG_BACKLOG_BYTES, parseListen, runServe } from '../../src/cli/serve.js';
import { LOG_FLUSH_BYTES } from '../../src/cli/log-relay.js';
import { bundleCli } from '../helpers/cli-bundle.js';
import { EVENT_TOKEN, loadEvent } from '../helpers/events.js';
import { FIXTURES, TEST_ENV } from '../helpers/fixtures.js';
import { captureIo } from '../helpers/io.js';
import { startServeCli } from '../helpers/serve-cli.js';
import { createTestPki, httpsRequest, type TestPki } from '../helpers/tls.js';

let pki: TestPki;
let scratch: string;
let rulesFile: string;
let tokenFile: string;

beforeAll(async () => {
  pki = await createTestPki();
  scratch = await mkdtemp(join(tmpdir(), 'serve-command-'));
  tokenFile = join(scratch, 'token');
  await writeFile(tokenFile, `${EVENT_TOKEN}\n`);
});

afterAll(async () => {
  await pki.remove();
  await rm(scratch, { recursive: true, force: true });
});

beforeEach(async () => {
  rulesFile = join(await mkdtemp(join(scratch, 'rules-')), 'rules.yaml');
  await copyFile(join(FIXTURES, 'valid-demo.yaml'), rulesFile);
});

// The Logger reads its level from the environment, which the test setup silences; these tests read the logs.
let savedLevel: string | undefined;
beforeEach(() => {
  savedLevel = process.env['POWERTOOLS_LOG_LEVEL'];
  process.env['POWERTOOLS_LOG_LEVEL'] = 'INFO';
});
afterEach(() => {
  if (savedLevel === undefined) delete process.env['POWERTOOLS_LOG_LEVEL'];
  else process.env['POWERTOOLS_LOG_LEVEL'] = savedLevel;
});

type JsonLine = Record<string, unknown>;

/** An Io whose stdout and stderr lines can be awaited. */
function liveIo(env: Readonly<Record<string, string | undefined>> = TEST_ENV): Io & {
  out: () => string;
  err: () => string;
  nextErrLine: (pred: (l: JsonLine) => boolean) => Promise<JsonLine>;
  listening: Promise<{ address: string; port: number }>;
} {
  let out = '';
  let err = '';
  let onListening: (v: { address: string; port: number }) => void = () => undefined;
  const listening = new Promise<{ address: string; port: number }>((resolve) => {
    onListening = resolve;
  });
  const waiters: { pred: (l: JsonLine) => boolean; resolve: (l: JsonLine) => void }[] = [];
  return {
    env,
    readStdin: () => Promise.resolve(''),
    stdout: (s) => {
      out += s;
      for (const line of s.split('\n').filter((l) => l !== '')) {
        const v = JSON.parse(line) as { msg?: string; address: string; port: number };
        if (v.msg === 'listening') onListening(v);
      }
    },
    stderr: (s) => {
      err += s;
      for (const line of s.split('\n').filter((l) => l.startsWith('{'))) {
        const v = JSON.parse(line) as JsonLine;
        for (const w of [...waiters]) {
          if (w.pred(v)) {
            waiters.splice(waiters.indexOf(w), 1);
            w.resolve(v);
          }
        }
      }
    },
    out: () => out,
    err: () => err,
    nextErrLine: (pred) => new Promise((resolve) => waiters.push({ pred, resolve })),
    listening,
  };
}

/** The flags of a serve with a token file; `auth` replaces the `--token-file` flags. */
const baseArgs = (auth: readonly string[] = ['--token-file', tokenFile]): string[] => [
  '--config',
  rulesFile,
  '--listen',
  '127.0.0.1:0',
  '--tls-cert-file',
  pki.server.certFile,
  '--tls-private-key-file',
  pki.server.keyFile,
  ...auth,
];

function stopper(): { stop: Promise<string>; trigger: () => void } {
  let trigger = (): void => undefined;
  const stop = new Promise<string>((resolve) => {
    trigger = () => {
      resolve('TEST');
    };
  });
  return { stop, trigger };
}

/**
 * Runs serve in process with `args` and `io` while `body` runs (given the port it listens on), then
 * stops it as a signal would, whatever `body` did; asserts that it then exits 0.
 */
async function whileServing(args: string[], io: ReturnType<typeof liveIo>, body: (port: number) => Promise<void>): Promise<void> {
  const { stop, trigger } = stopper();
  const exit = runServe(args, io, { stop });
  const { port } = await io.listening;
  try {
    await body(port);
  } finally {
    trigger();
  }
  expect(await exit).toBe(EXIT.ok);
}

/** POST the demo AdmissionReview; the image its patch sets, or the status when it is not 200. */
async function demoImage(port: number, token = EVENT_TOKEN): Promise<string> {
  const body = String(loadEvent('rest-pod-v1beta1-demo.json')['body']);
  const answer = await httpsRequest({ port, ca: pki.ca, method: 'POST', path: `/mutate/${token}`, body, headers: { 'content-type': 'application/json' } });
  if (answer.status !== 200) return `status ${answer.status}`;
  const review = JSON.parse(answer.body) as { response: { patch?: string } };
  const patch = JSON.parse(Buffer.from(review.response.patch ?? 'W10=', 'base64').toString('utf8')) as { path: string; value: string }[];
  return patch.find((op) => op.path === '/spec/containers/0/image')?.value ?? '(unchanged)';
}

describe('image-rewriter serve', () => {
  it('listens, prints one JSON line, answers with the real handler, and stops cleanly', async () => {
    const io = liveIo();
    const { stop, trigger } = stopper();
    const exit = runServe(baseArgs(), io, { stop });
    const { address, port } = await io.listening;
    expect(address).toBe('127.0.0.1');
    expect(io.out()).toBe(`${JSON.stringify({ msg: 'listening', address: '127.0.0.1', port })}\n`);

    expect(await demoImage(port)).toBe('asia.gcr.io/nginx:latest');
    expect(await demoImage(port, 'not-the-right-token-000000000000')).toBe('status 401');
    expect((await httpsRequest({ port, ca: pki.ca, path: '/healthz' })).status).toBe(200);

    trigger();
    expect(await exit).toBe(EXIT.ok);
    const after = await httpsRequest({ port, ca: pki.ca, path: '/healthz' }).then(
      () => 'answered',
      (e: unknown) => (e as NodeJS.ErrnoException).code,
    );
    expect(after).toBe('ECONNREFUSED');
    expect(io.err()).not.toContain(EVENT_TOKEN);
  });

  it('drops its log lines while stderr holds more than MAX_LOG_BACKLOG_BYTES unread, and says how many once it is read', async () => {
    const io = liveIo();
    // A reader that stopped: everything written stays in the process (Node's stream buffer).
    let unread = 0;
    const stalled: Io = {
      ...io,
      stderr: (s) => {
        unread += Buffer.byteLength(s);
        io.stderr(s);
      },
      stderrBacklog: () => unread,
    };
    const { stop, trigger } = stopper();
    const exit = runServe(baseArgs(), stalled, { stop });
    const { port } = await io.listening;
    try {
      unread = MAX_LOG_BACKLOG_BYTES;
      expect(await demoImage(port)).toBe('asia.gcr.io/nginx:latest');
      await new Promise((resolve) => setTimeout(resolve, 50));
      const held = io.err().length;
      for (let i = 0; i < 5; i++) expect(await demoImage(port)).toBe('asia.gcr.io/nginx:latest');
      await new Promise((resolve) => setTimeout(resolve, 50));
      // The process keeps serving, and what its log reader cannot take is not kept for it.
      expect(io.err().length).toBe(held);
      unread = 0;
      const note = io.nextErrLine((l) => l['message'] === 'log lines dropped: stderr was not read');
      expect(await demoImage(port)).toBe('asia.gcr.io/nginx:latest');
      // Each review: its request line, its review line and its metrics.
      expect((await note)['dropped']).toBeGreaterThanOrEqual(10);
    } finally {
      trigger();
    }
    expect(await exit).toBe(EXIT.ok);
  });

  it('reloads the rules file; an invalid new document is logged and the last good rules stay', async () => {
    const io = liveIo();
    await whileServing(baseArgs(), io, async (port) => {
      expect(await demoImage(port)).toBe('asia.gcr.io/nginx:latest');

      let logged = io.nextErrLine((l) => l['message'] === 'rules loaded');
      await writeFile(rulesFile, 'rules:\n  - name: eu\n    match: gcr.io\n    replace: eu.gcr.io\n');
      await logged;
      expect(await demoImage(port)).toBe('eu.gcr.io/nginx:latest');

      logged = io.nextErrLine((l) => l['message'] === 'rules document is invalid');
      const kept = io.nextErrLine((l) => l['message'] === 'keeping the last good rules');
      await writeFile(rulesFile, 'rules:\n  - name: broken\n    match: gcr.io\n');
      const invalid = await logged;
      expect(JSON.stringify(invalid['issues'])).toContain('rules[0]');
      expect(await kept).toMatchObject({ level: 'WARN', source: rulesFile });
      expect(await demoImage(port)).toBe('eu.gcr.io/nginx:latest');
      expect((await httpsRequest({ port, ca: pki.ca, path: '/healthz' })).status).toBe(200);
    });
  });

  it('counts a wrong token in AuthFailures, as the handler does, though serve refuses it before the handler', async () => {
    const io = liveIo();
    await whileServing(baseArgs(), io, async (port) => {
      expect(await demoImage(port, 'not-the-right-token-000000000000')).toBe('status 401');
    });
    const emf = io.err().split('\n').filter((l) => l.includes('"_aws"')).map((l) => JSON.parse(l) as JsonLine);
    expect(emf).toEqual([expect.objectContaining({ Outcome: 'unauthorized', AuthFailures: 1, Reviews: 1 })]);
  });

  it('accepts both tokens of a --token-file holding a rotation (NEW,OLD), over HTTPS, and only those', async () => {
    const NEW_TOKEN = 'rotated-serve-token-0123456789';
    const pair = join(scratch, 'token-pair');
    await writeFile(pair, `${NEW_TOKEN},${EVENT_TOKEN}\n`);
    const io = liveIo();
    await whileServing(baseArgs(['--token-file', pair]), io, async (port) => {
      expect(await demoImage(port, NEW_TOKEN)).toBe('asia.gcr.io/nginx:latest');
      expect(await demoImage(port, EVENT_TOKEN)).toBe('asia.gcr.io/nginx:latest');
      for (const wrong of [`${NEW_TOKEN},${EVENT_TOKEN}`, `${NEW_TOKEN}0`, 'not-the-right-token-000000000000']) expect(await demoImage(port, wrong)).toBe('status 401');
    });
    const lines = io.err().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as JsonLine);
    expect(lines.filter((l) => l['message'] === 'admission reviewed').map((l) => l['previousToken'])).toEqual([undefined, true]);
    expect(lines.find((l) => l['message'] === 'configuration')).toMatchObject({ token: '--token-file', tokens: 2 });
    expect(io.err()).not.toContain(EVENT_TOKEN);
    expect(io.err()).not.toContain(NEW_TOKEN);
  });

  it('takes the token from WEBHOOK_TOKEN', async () => {
    await whileServing(baseArgs([]), liveIo({ ...TEST_ENV, WEBHOOK_TOKEN: EVENT_TOKEN }), async (port) => {
      expect(await demoImage(port, 'x'.repeat(20))).toBe('status 401');
      expect(await demoImage(port)).toBe('asia.gcr.io/nginx:latest');
    });
  });

  it('passes --max-body-bytes to the server', async () => {
    await whileServing([...baseArgs(['--allow-unauthenticated']), '--max-body-bytes', '100'], liveIo(), async (port) => {
      const answer = await httpsRequest({ port, ca: pki.ca, method: 'POST', path: '/mutate', body: 'x'.repeat(101) });
      expect(answer.status).toBe(413);
    });
  });

  // Regression (QA-37): a review refused for its size was only in the `request` line, at INFO: at
  // LOG_LEVEL=WARN nothing showed it, no metric counted it, and the API server admitted the Pod
  // unchanged (failurePolicy Ignore). The Lambda warns and counts its own refusal (400, bad_request).
  it('warns of a body over --max-body-bytes and counts it as the Lambda counts its 400 (bad_request), at LOG_LEVEL=WARN too', async () => {
    const io = liveIo({ ...TEST_ENV, LOG_LEVEL: 'WARN', WEBHOOK_TOKEN: EVENT_TOKEN });
    await whileServing([...baseArgs([]), '--max-body-bytes', '100'], io, async (port) => {
      const rejected = io.nextErrLine((l) => l['message'] === 'request rejected');
      const answer = await httpsRequest({ port, ca: pki.ca, method: 'POST', path: `/mutate/${EVENT_TOKEN}`, body: 'x'.repeat(101) });
      expect(answer.status).toBe(413);
      expect(await rejected).toMatchObject({ level: 'WARN', status: 413, reason: 'request body is larger than 100 bytes' });
    });
    const documents = io.err().split('\n').filter((l) => l.startsWith('{"_aws"')).map((l) => JSON.parse(l) as JsonLine);
    expect(documents).toEqual([expect.objectContaining({ Outcome: 'bad_request', Reviews: 1 })]);
    expect(io.err()).not.toContain(EVENT_TOKEN);
  });

  // README, "Rotating the token": serve reads its token only at start. A token file changed under
  // it (the Secret of a rotation, the Pods not restarted) was applied by nothing and said by
  // nothing; a webhook configuration moved to the new token then got 401 at every call.
  it('warns when its token file changes, since it reads the token only at start', async () => {
    const NEW_TOKEN = 'rotated-serve-token-0123456789';
    const own = join(scratch, 'token-watched');
    await writeFile(own, `${EVENT_TOKEN}\n`);
    const io = liveIo({ ...TEST_ENV, LOG_LEVEL: 'WARN' });
    await whileServing(baseArgs(['--token-file', own]), io, async () => {
      const warned = io.nextErrLine((l) => typeof l['message'] === 'string' && l['message'].startsWith('token file changed'));
      await writeFile(own, `${NEW_TOKEN},${EVENT_TOKEN}\n`);
      expect(await warned).toMatchObject({ level: 'WARN', message: 'token file changed; serve reads its token only at start: restart it to use the new one', tokenFile: own, tokens: 2, tokensInUse: 1 });
    });
    expect(io.err()).not.toContain(NEW_TOKEN);
    expect(io.err()).not.toContain(EVENT_TOKEN);
  });

  // An embedding (or a test) that runs serve again in the same process must not get a stopped
  // serve's lines: its token file is no longer followed once serve ends, whether it served or not.
  it.each([
    { how: 'after a shutdown', args: (own: string) => baseArgs(['--token-file', own]), code: EXIT.ok },
    { how: 'after a start that failed (no certificate file)', args: (own: string) => baseArgs(['--token-file', own]).map((a) => (a === pki.server.certFile ? join(scratch, 'missing.crt') : a)), code: EXIT.failure },
  ])('stops following its token file $how', async ({ args, code }) => {
    const own = join(scratch, `token-unwatched-${String(code)}`);
    await writeFile(own, `${EVENT_TOKEN}\n`);
    const io = liveIo({ ...TEST_ENV, LOG_LEVEL: 'WARN' });
    const { stop, trigger } = stopper();
    const exit = runServe(args(own), io, { stop });
    if (code === EXIT.ok) {
      await io.listening;
      trigger();
    }
    expect(await exit).toBe(code);
    await writeFile(own, 'rotated-serve-token-0123456789\n');
    await new Promise((resolve) => setTimeout(resolve, 600));
    expect(io.err()).not.toContain('token file changed');
  });

  // SIGHUP too: without a handler Node ended serve at once, nothing logged (a closed terminal, a
  // `kill -HUP` meant as a reload).
  it.each(['SIGTERM', 'SIGHUP'] as const)('shuts down gracefully on %s and exits 0 (the bundled CLI, as a process)', async (signal) => {
    const cli = await bundleCli(join(scratch, 'cli.mjs'));
    const child = spawn(process.execPath, [cli, 'serve', ...baseArgs()], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...TEST_ENV } });
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    try {
      let stdout = '';
      const port = await new Promise<number>((resolve, reject) => {
        child.stdout.on('data', (d: Buffer) => {
          stdout += d.toString('utf8');
          const line = stdout.split('\n')[0] ?? '';
          if (stdout.includes('\n')) resolve((JSON.parse(line) as { port: number }).port);
        });
        child.once('exit', (code) => {
          reject(new Error(`serve exited early (${String(code)})`));
        });
      });
      expect(await demoImage(port)).toBe('asia.gcr.io/nginx:latest');
      child.kill(signal);
      expect(await exited).toBe(0);
      expect(stdout).toBe(`${JSON.stringify({ msg: 'listening', address: '127.0.0.1', port })}\n`);
    } finally {
      child.kill('SIGKILL');
    }
  }, 30_000);

  it('exits 2 on an invalid rules document, listing every problem', async () => {
    const io = captureIo(TEST_ENV);
    const code = await main(['serve', ...baseArgs().map((a) => (a === rulesFile ? join(FIXTURES, 'invalid-match-and-regex.yaml') : a))], io);
    expect(code).toBe(EXIT.invalidConfig);
    expect(io.err()).toContain('rules[0]: has both "match" and "regex"; use one');
    expect(io.out()).toBe('');
  });

  it('refuses a --config it cannot follow, a pipe (`--config <(...)`), at start, with the exit code of an unreadable document', async () => {
    // serve reads its rules file again at every change and every poll. A pipe gives its text once:
    // read at start, it was empty at the first poll (`rules document is invalid`, "is empty", 10 s
    // later, and RulesStale at every review), and with --workers 2 the second worker found it
    // empty and serve could not start, saying only that the document was empty.
    const fifo = join(scratch, 'rules-pipe');
    execFileSync('mkfifo', [fifo]);
    const writer = spawn('sh', ['-c', 'cat "$1" > "$2"', 'sh', join(FIXTURES, 'valid-demo.yaml'), fifo], { stdio: 'ignore' });
    const io = captureIo(TEST_ENV);
    const served = await startServeCli(
      baseArgs().map((a) => (a === rulesFile ? fifo : a)),
      io,
    );
    try {
      expect(served.port).toBeUndefined();
      expect(await served.stop()).toBe(EXIT.invalidConfig);
      expect(io.err()).toContain(`error: cannot read rules document ${fifo}: not a regular file`);
      expect(io.out()).toBe('');
    } finally {
      writer.kill('SIGKILL');
      await rm(fifo, { force: true });
      if (served.port !== undefined) await served.stop();
    }
  });

  it('exits 2 on a rules document with thousands of problems, listing the first 20 (its stderr is its log) and counting the rest', async () => {
    const many = join(scratch, 'many-problems.yaml');
    await writeFile(many, `rules:\n${Array.from({ length: 3000 }, (_, i) => `  - name: r${i}\n    match: gcr.io\n`).join('')}`);
    const io = captureIo(TEST_ENV);
    const code = await main(['serve', ...baseArgs().map((a) => (a === rulesFile ? many : a))], io);
    expect(code).toBe(EXIT.invalidConfig);
    const lines = io.err().split('\n');
    const listed = lines.filter((l) => /^ {2}rules\[\d+\]/.test(l));
    expect(listed).toHaveLength(20);
    expect(lines).toContain('  ... and 2980 more (check-config lists them all)');
    const logged = lines.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as JsonLine).find((l) => l['message'] === 'rules document is invalid');
    expect(logged).toMatchObject({ issuesCut: 2980 });
    expect(io.err().length).toBeLessThan(16 * 1024);
  });

  it('exits 1 with a clear message when the certificate cannot be loaded', async () => {
    const io = captureIo(TEST_ENV);
    const args = baseArgs().map((a) => (a === pki.server.certFile ? join(scratch, 'missing.crt') : a));
    expect(await main(['serve', ...args], io)).toBe(EXIT.failure);
    expect(io.err()).toMatch(/error: cannot read .*missing\.crt: no such file or directory \(ENOENT\)$/m);
    expect(io.out()).toBe('');
  });

  it('leaves no signal handler behind when it ends without a signal (repeated in-process runs)', async () => {
    const before = [process.listenerCount('SIGTERM'), process.listenerCount('SIGINT'), process.listenerCount('SIGHUP')];
    for (let i = 0; i < 12; i++) {
      const io = captureIo(TEST_ENV);
      expect(await main(['serve', ...baseArgs(['--token-file', join(scratch, 'no-token')])], io)).toBe(EXIT.failure);
    }
    expect([process.listenerCount('SIGTERM'), process.listenerCount('SIGINT'), process.listenerCount('SIGHUP')]).toEqual(before);
  });

  it('exits 1 when the token file cannot be read', async () => {
    const io = captureIo(TEST_ENV);
    expect(await main(['serve', ...baseArgs(['--token-file', join(scratch, 'no-token')])], io)).toBe(EXIT.failure);
    expect(io.err()).toContain('cannot read --token-file');
  });

  it.each([['a 3 GB file', 'huge-token'], ['/dev/zero', '/dev/zero']])('refuses a --token-file that is %s for its size, unread', async (_what, name) => {
    // Read whole, a 3 GB file failed only after trying, and /dev/zero ran until memory was gone.
    const file = name.startsWith('/') ? name : join(scratch, name);
    if (file !== name) {
      await writeFile(file, '');
      await truncate(file, 3 * 1024 ** 3);
    }
    const io = captureIo(TEST_ENV);
    expect(await main(['serve', ...baseArgs(['--token-file', file])], io)).toBe(EXIT.failure);
    expect(io.err()).toContain(`cannot read --token-file ${file}: larger than 65536 bytes, not a token file`);
  });

  it('says an empty --token-file (an unset shell variable) names no file, with the exit code of an unreadable one', async () => {
    const io = captureIo(TEST_ENV);
    expect(await main(['serve', ...baseArgs(['--token-file', ''])], io)).toBe(EXIT.failure);
    expect(io.err()).toBe('error: --token-file names no file (it is empty)\n');
    expect(io.out()).toBe('');
  });

  it.each([
    { why: 'no --listen', args: () => baseArgs().slice(0, 2).concat(baseArgs().slice(4)), message: 'serve needs --listen' },
    { why: 'no certificate flags', args: () => ['--config', rulesFile, '--listen', ':8443'], message: 'serve needs --tls-cert-file, --tls-private-key-file' },
    { why: 'a bad --listen', args: () => baseArgs().map((a) => (a === '127.0.0.1:0' ? '127.0.0.1' : a)), message: '--listen must be HOST:PORT' },
    { why: 'a port out of range', args: () => baseArgs().map((a) => (a === '127.0.0.1:0' ? ':70000' : a)), message: '--listen must be HOST:PORT' },
    { why: 'a --max-body-bytes of 0', args: () => [...baseArgs(), '--max-body-bytes', '0'], message: '--max-body-bytes must be a whole number' },
    { why: 'an unknown flag', args: () => [...baseArgs(), '--port', '1'], message: 'unknown option --port' },
  ])('exits 64 for $why', async ({ args, message }) => {
    const io = captureIo(TEST_ENV);
    expect(await main(['serve', ...args()], io)).toBe(EXIT.usage);
    expect(io.err()).toContain(message);
  });

  it('refuses to start without a token unless --allow-unauthenticated says so', async () => {
    const io = captureIo(TEST_ENV);
    expect(await main(['serve', ...baseArgs([])], io)).toBe(EXIT.usage);
    expect(io.err()).toContain('WEBHOOK_TOKEN: no webhook token: set WEBHOOK_TOKEN, WEBHOOK_TOKEN_PARAMETER or WEBHOOK_TOKEN_SECRET_ARN');
    expect(io.out()).toBe('');
  });

  it('exits 64 for a token that is too short or empty', async () => {
    const short = join(scratch, 'short-token');
    await writeFile(short, 'abc\n');
    const io = captureIo(TEST_ENV);
    expect(await main(['serve', ...baseArgs(['--token-file', short])], io)).toBe(EXIT.usage);
    expect(io.err()).toContain('must be at least 16 characters');
    expect(io.err()).not.toContain('abc');
    const empty = join(scratch, 'empty-token');
    await writeFile(empty, '\n');
    const io2 = captureIo(TEST_ENV);
    expect(await main(['serve', ...baseArgs(['--token-file', empty])], io2)).toBe(EXIT.usage);
    expect(io2.err()).toContain('is empty');
  });
});

// Rules kept in SSM are read on their TTL between requests too (an idle serve notices a bad
// version), and no more once serve has stopped: an embedding (or a test) running serve again in the
// same process gets no reads, nor their lines, from one that ended.
describe('serve with rules kept in SSM', () => {
  it('reads them on their TTL with no review coming, and stops reading once it has stopped', async () => {
    const ssm = mockClient(SSMClient);
    ssm.on(GetParameterCommand).resolves({ Parameter: { Name: '/t/rules', Type: 'String', Value: 'rules:\n  - name: gcr\n    match: gcr.io\n    replace: asia.gcr.io\n', Version: 1 } });
    const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
    try {
      const io = liveIo({ ...TEST_ENV, REWRITE_RULES: undefined, REWRITE_RULES_PARAMETER: '/t/rules', REWRITE_RULES_TTL_SECONDS: '1', LOG_LEVEL: 'WARN' });
      const { stop, trigger } = stopper();
      const exit = runServe(baseArgs().filter((a, i, all) => a !== '--config' && all[i - 1] !== '--config'), io, { stop });
      await io.listening;
      const atStart = ssm.commandCalls(GetParameterCommand).length;
      await sleep(2500);
      expect(ssm.commandCalls(GetParameterCommand).length).toBeGreaterThan(atStart);
      trigger();
      expect(await exit).toBe(EXIT.ok);
      const atStop = ssm.commandCalls(GetParameterCommand).length;
      await sleep(2500);
      expect(ssm.commandCalls(GetParameterCommand).length).toBe(atStop);
    } finally {
      ssm.restore();
    }
  });

  // README (the serve row): a parameter that cannot be read at start stops serve with exit 2 before
  // it listens (the kubelet restarts it, its Pod not Ready), rather than serving with no rules.
  it('exits 2 before it listens when the parameter cannot be read at start, saying why', async () => {
    const ssm = mockClient(SSMClient);
    const failure = Object.assign(new Error('We encountered an internal error. Please try again.'), { name: 'InternalServerError', $fault: 'server', $metadata: { httpStatusCode: 500 } });
    ssm.on(GetParameterCommand).rejects(failure);
    try {
      const io = captureIo({ ...TEST_ENV, REWRITE_RULES: undefined, REWRITE_RULES_PARAMETER: '/t/rules' });
      const code = await main(['serve', ...baseArgs().filter((a, i, all) => a !== '--config' && all[i - 1] !== '--config')], io);
      expect({ code, out: io.out() }).toEqual({ code: EXIT.invalidConfig, out: '' });
      expect(io.err()).toContain('error: rules parameter /t/rules could not be read (InternalServerError)');
      const logged = io.err().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as JsonLine).find((l) => l['message'] === 'cannot read the rules parameter');
      expect(logged).toMatchObject({ level: 'ERROR', parameter: '/t/rules', errorCode: 'InternalServerError', keeping: 'nothing: no rules were loaded yet' });
    } finally {
      ssm.restore();
    }
  });
});

describe('parseListen', () => {
  it.each([
    { addr: '127.0.0.1:8443', host: '127.0.0.1', port: 8443 },
    { addr: '[::1]:8443', host: '::1', port: 8443 },
    { addr: ':8443', host: undefined, port: 8443 },
    { addr: 'localhost:0', host: 'localhost', port: 0 },
    { addr: '0.0.0.0:65535', host: '0.0.0.0', port: 65535 },
  ])('$addr', ({ addr, host, port }) => {
    expect(parseListen(addr)).toEqual({ host, port });
  });

  it.each(['8443', '127.0.0.1', '::1:8443', '[::1]', '[nope]:1', 'a b:1', ':65536', ':-1', ''])('rejects %p', (addr) => {
    expect(() => parseListen(addr)).toThrow(/--listen/);
  });
});

describe('batchedLines', () => {
  const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

  it('writes the lines of one event-loop turn in one write, in order', async () => {
    const writes: string[] = [];
    const lines = batchedLines((s) => writes.push(s));
    lines.push('{"a":1}');
    lines.push('{"b":2}');
    expect(writes).toEqual([]);
    await turn();
    expect(writes).toEqual(['{"a":1}\n{"b":2}\n']);
    lines.push('{"c":3}');
    await turn();
    expect(writes).toEqual(['{"a":1}\n{"b":2}\n', '{"c":3}\n']);
  });

  it('flush writes what is pending at once, and nothing when nothing is', async () => {
    const writes: string[] = [];
    const lines = batchedLines((s) => writes.push(s));
    lines.flush();
    expect(writes).toEqual([]);
    lines.push('x');
    lines.flush();
    expect(writes).toEqual(['x\n']);
    await turn();
    expect(writes).toEqual(['x\n']);
  });

  it('with holdMs (a --workers worker), writes at most once per holdMs: at the next turn after a quiet spell, or at once at LOG_FLUSH_BYTES', async () => {
    const writes: string[] = [];
    const lines = batchedLines((s) => writes.push(s), 30);
    lines.push('{"a":1}');
    await turn();
    expect(writes).toEqual(['{"a":1}\n']);
    lines.push('{"b":2}');
    await turn();
    lines.push('{"c":3}');
    await turn();
    expect(writes).toEqual(['{"a":1}\n']);
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(writes).toEqual(['{"a":1}\n', '{"b":2}\n{"c":3}\n']);
    await new Promise((resolve) => setTimeout(resolve, 40));
    lines.push('{"d":4}');
    await turn();
    expect(writes.at(-1)).toBe('{"d":4}\n');
    const long = 'x'.repeat(LOG_FLUSH_BYTES);
    lines.push(long);
    expect(writes).toEqual(['{"a":1}\n', '{"b":2}\n{"c":3}\n', '{"d":4}\n', `${long}\n`]);
    lines.push('y');
    lines.flush();
    expect(writes.at(-1)).toBe('y\n');
  });
});
