/**
 * `serve --workers N` (src/cli/serve-workers.ts), as a process (the bundled CLI): one listening
 * line, every worker answering, the rules file reloaded in every worker, a dead worker replaced,
 * graceful shutdown of all of them on SIGTERM, and a start that fails once with its exit code.
 * Certificate rotation with two workers is in serve-fault.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EXIT, main } from '../../src/cli/main.js';
import { ATOMIC_WRITE_BYTES, lineAtomicWriter, MAX_RESTART_DELAY_MS, RESTART_DELAY_MS, restartDelay } from '../../src/cli/serve-workers.js';
import { bundleCli } from '../helpers/cli-bundle.js';
import { EVENT_TOKEN, loadEvent } from '../helpers/events.js';
import { FIXTURES, TEST_ENV } from '../helpers/fixtures.js';
import { captureIo } from '../helpers/io.js';
import { createTestPki, httpsRequest, type TestPki } from '../helpers/tls.js';

type LogLine = Record<string, unknown>;

let pki: TestPki;
let scratch: string;
let cli: string;
let tokenFile: string;

beforeAll(async () => {
  pki = await createTestPki();
  scratch = await mkdtemp(join(tmpdir(), 'serve-workers-'));
  cli = await bundleCli(join(scratch, 'cli.mjs'));
  tokenFile = join(scratch, 'token');
  await writeFile(tokenFile, `${EVENT_TOKEN}\n`);
}, 60_000);

afterAll(async () => {
  await pki.remove();
  await rm(scratch, { recursive: true, force: true });
});

interface Served {
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;
  readonly stdout: () => string;
  readonly stderr: () => string;
  readonly logs: LogLine[];
  /** Resolves once `pred` has held for a line written after this call. */
  readonly next: (pred: (l: LogLine) => boolean) => Promise<void>;
  readonly port: Promise<number>;
}

function serve(args: readonly string[]): Served {
  const child = spawn(process.execPath, [cli, 'serve', ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...TEST_ENV, POWERTOOLS_LOG_LEVEL: 'INFO' } });
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  let stdout = '';
  let stderr = '';
  let pending = '';
  const logs: LogLine[] = [];
  const waiters: { pred: (l: LogLine) => boolean; resolve: () => void }[] = [];
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString('utf8');
    pending += d.toString('utf8');
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines.filter((l) => l.startsWith('{'))) {
      const v = JSON.parse(line) as LogLine; // a line mixed from two workers would throw here
      logs.push(v);
      for (const w of [...waiters]) {
        if (w.pred(v)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve();
        }
      }
    }
  });
  const port = new Promise<number>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString('utf8');
      if (stdout.includes('\n')) resolve((JSON.parse(stdout.split('\n')[0] ?? '') as { port: number }).port);
    });
    void exited.then((code) => {
      reject(new Error(`serve exited early (${String(code)}): ${stderr.slice(0, 2000)}`));
    });
  });
  port.catch(() => undefined);
  return { child, exited, stdout: () => stdout, stderr: () => stderr, logs, next: (pred) => new Promise((resolve) => waiters.push({ pred, resolve })), port };
}

/** Once `pred` held for a line of each of `workers` distinct workers. */
const fromEvery = (workers: number, pred: (l: LogLine) => boolean): ((l: LogLine) => boolean) => {
  const seen = new Set<unknown>();
  return (l) => {
    if (pred(l)) seen.add(l['worker']);
    return seen.size >= workers;
  };
};

/** The worker processes of a primary (Linux /proc). */
function childrenOf(pid: number): number[] {
  return readFileSync(`/proc/${String(pid)}/task/${String(pid)}/children`, 'utf8').trim().split(/\s+/).filter((s) => s !== '').map(Number);
}

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
    const s = serve(args(rules, 2));
    try {
      const port = await s.port;
      expect(s.stdout()).toBe(`${JSON.stringify({ msg: 'listening', address: '127.0.0.1', port })}\n`);
      const workers = childrenOf(s.child.pid ?? 0);
      expect(workers).toHaveLength(2);

      const requests = s.next(fromEvery(2, (l) => l['message'] === 'request'));
      for (let i = 0; i < 8; i++) expect(await demoImage(port)).toBe('asia.gcr.io/nginx:latest');
      await requests; // new connections are shared out: both workers answered

      const reloaded = s.next(fromEvery(2, (l) => l['message'] === 'rules loaded' && l['source'] === rules));
      await writeFile(rules, 'rules:\n  - name: eu\n    match: gcr.io\n    replace: eu.gcr.io\n');
      await reloaded;
      for (let i = 0; i < 8; i++) expect(await demoImage(port)).toBe('eu.gcr.io/nginx:latest');

      s.child.kill('SIGTERM');
      expect(await s.exited).toBe(0);
      expect(workers.filter(alive)).toEqual([]);
      expect(s.logs.filter((l) => l['message'] === 'stopped').map((l) => l['worker']).sort()).toEqual([1, 2]);
      expect(s.stderr()).not.toContain(EVENT_TOKEN);
    } finally {
      s.child.kill('SIGKILL');
    }
  }, 60_000);

  it('replaces a worker that dies and keeps answering', async () => {
    const s = serve(args(await rulesFile(), 2));
    try {
      const port = await s.port;
      const [victim] = childrenOf(s.child.pid ?? 0);
      const replaced = s.next((l) => l['message'] === 'worker exited; starting another');
      const started = s.next((l) => l['message'] === 'certificate loaded' && l['worker'] === 3);
      process.kill(victim ?? 0, 'SIGKILL');
      await replaced;
      // The signal is said (an OOM kill is one); the code alone read 1, as if it had failed.
      expect(s.logs.find((l) => l['message'] === 'worker exited; starting another')).toMatchObject({ code: 1, signal: 'SIGKILL' });
      await started;
      for (let i = 0; i < 4; i++) expect(await demoImage(port)).toBe('asia.gcr.io/nginx:latest');
      expect(childrenOf(s.child.pid ?? 0)).toHaveLength(2);
      s.child.kill('SIGTERM');
      expect(await s.exited).toBe(0);
    } finally {
      s.child.kill('SIGKILL');
    }
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
    const workers = new Set(s.logs.map((l) => l['worker']).filter((w) => typeof w === 'number' && !killed.has(w)));
    const stopped = new Set(s.logs.filter((l) => l['message'] === 'stopped').map((l) => l['worker']));
    expect([...workers].filter((w) => !stopped.has(w))).toEqual([]);
    return s.exited;
  };

  it('SIGTERM just after a worker died: its replacement does not outlive the primary, which exits 0', async () => {
    const s = serve(args(await rulesFile(), 2));
    try {
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
    } finally {
      s.child.kill('SIGKILL');
    }
  }, 60_000);

  it('SIGTERM while a replacement waits out its restart delay: none is started, and the primary exits 0', async () => {
    const s = serve(args(await rulesFile(), 2));
    try {
      await s.port;
      const first = childrenOf(s.child.pid ?? 0);
      if (first[0] === undefined) throw new Error('no worker found');
      const firstReplacement = s.next((l) => l['worker'] === 3);
      process.kill(first[0], 'SIGKILL');
      await firstReplacement; // its first log line: it runs
      // The replacement dies within its first second: the next one waits a second before it starts.
      const delayed = s.next((l) => l['message'] === 'worker exited; starting another' && typeof l['livedMs'] === 'number' && l['livedMs'] < 1000);
      const replacement = childrenOf(s.child.pid ?? 0).find((pid) => !first.includes(pid));
      if (replacement === undefined) throw new Error('no replacement worker found');
      process.kill(replacement, 'SIGKILL');
      await delayed;
      s.child.kill('SIGTERM');
      expect(await allEnded(s, 15_000)).toBe(0);
      expect(s.logs.map((l) => l['worker'])).not.toContain(4);
    } finally {
      s.child.kill('SIGKILL');
    }
  }, 60_000);

  it('fails once, with the exit code and report of the first worker, when the configuration cannot start', async () => {
    const s = serve(args(await rulesFile('invalid-missing-replace.yaml'), 2));
    expect(await s.exited).toBe(EXIT.invalidConfig);
    expect(s.stdout()).toBe('');
    expect(s.stderr().match(/error: invalid rules document/g)).toHaveLength(1);
    expect(s.stderr()).toContain('rules[0].replace: is required');
  }, 60_000);

  it.each([
    ['--max-body-bytes', '10MB'],
    ['--listen', 'nonsense'],
  ])('exits 64 at once on a usage error its workers find (%s %s), primary and worker', async (flag, value) => {
    // The worker parses serve's flags; its IPC channel to the primary used to keep it (and so the
    // primary, waiting for it) running after it printed the error.
    const base = args(await rulesFile(), 2);
    const at = base.indexOf(flag);
    const s = serve(at >= 0 ? base.map((a, i) => (i === at + 1 ? value : a)) : [...base, flag, value]);
    expect(await s.exited).toBe(EXIT.usage);
    expect(s.stdout()).toBe('');
    expect(s.stderr()).toContain(`error: ${flag} must be`);
  }, 30_000);

  it.each(['0', '257', 'two', '1.5'])('refuses --workers %s (usage)', async (n) => {
    const io = captureIo();
    expect(await main(['serve', '--listen', '127.0.0.1:0', '--tls-cert-file', 'c', '--tls-private-key-file', 'k', '--workers', n], io)).toBe(EXIT.usage);
    expect(io.err()).toContain('--workers must be a whole number from 1 to 256');
  });
});

describe('lineAtomicWriter', () => {
  it('writes short text at once, and long text in whole lines of at most the atomic size', () => {
    const writes: string[] = [];
    const write = lineAtomicWriter((s) => writes.push(s), 100);
    write('a\nb\n');
    const lines = Array.from({ length: 30 }, (_, i) => `${'x'.repeat(20)}${String(i)}\n`);
    write(lines.join(''));
    write(`${'y'.repeat(150)}\nz\n`);
    expect(writes[0]).toBe('a\nb\n');
    const long = writes.slice(1, -2);
    expect(long.join('')).toBe(lines.join(''));
    for (const w of long) {
      expect(Buffer.byteLength(w)).toBeLessThanOrEqual(100);
      expect(w.endsWith('\n')).toBe(true);
    }
    expect(writes.slice(-2)).toEqual([`${'y'.repeat(150)}\n`, 'z\n']);
    expect(ATOMIC_WRITE_BYTES).toBe(4096);
  });

  it('makes the same writes for ASCII text as splitting into lines does, and for text with multi-byte characters', () => {
    // The reference: whole lines packed greedily into writes of at most `max` bytes, a longer line alone.
    const reference = (s: string, max: number): string[] => {
      if (Buffer.byteLength(s) <= max) return [s];
      const out: string[] = [];
      let chunk = '';
      for (const line of s.split(/(?<=\n)/)) {
        if (chunk !== '' && Buffer.byteLength(chunk) + Buffer.byteLength(line) > max) {
          out.push(chunk);
          chunk = '';
        }
        chunk += line;
      }
      if (chunk !== '') out.push(chunk);
      return out;
    };
    let seed = 7;
    const random = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed % n;
    };
    const alphabets: readonly (readonly string[])[] = [['a', 'b', '\n'], ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', '\n'], ['a', 'é', '\n'], ['a', '\u{1F600}', '\n']];
    for (let i = 0; i < 400; i++) {
      const alphabet = alphabets[i % alphabets.length] ?? [];
      const text = Array.from({ length: random(300) }, () => alphabet[random(alphabet.length)]).join('');
      const max = 1 + random(60);
      const writes: string[] = [];
      lineAtomicWriter((s) => writes.push(s), max)(text);
      expect(writes).toEqual(reference(text, max));
    }
  });
});

describe('restartDelay', () => {
  it('replaces a worker that lived at once, and one that died young after 1, 2, 4... s, at most 60 s', () => {
    expect(restartDelay(RESTART_DELAY_MS, 0)).toBe(0);
    expect(restartDelay(3_600_000, 7)).toBe(0);
    expect([0, 1, 2, 3, 4, 5, 6, 7, 40].map((n) => restartDelay(200, n))).toEqual([1000, 2000, 4000, 8000, 16_000, 32_000, 60_000, 60_000, MAX_RESTART_DELAY_MS]);
  });
});
