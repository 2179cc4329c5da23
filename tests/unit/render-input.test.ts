/**
 * What `render` and `audit` accept as manifests: UTF-8 text only (bytes that are not UTF-8 fail,
 * as kubectl refuses them, instead of coming out changed), and a custom resource whose kind only
 * ends in `List` is an object left alone, not a list of objects. A document too large for the heap
 * is an error before it is parsed, not a process killed by it, and so is a text longer than node
 * can hold as one string. And, through the bundled CLI, the same for stdin, and a reader that
 * stops early (`| head`): no stack trace, the command's own code; a stdout that cannot be written
 * (a full disk): said, with an error's exit code, never a verdict.
 */
import { constants } from 'node:buffer';
import { execFileSync, spawn } from 'node:child_process';
import { closeSync, createWriteStream, mkdtempSync, openSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import { stringify } from 'yaml';
import { main } from '../../src/cli/main.js';
import { objectsOf } from '../../src/core/manifest.js';
import { rewriterFrom } from '../helpers/rules.js';
import { pieces } from '../../src/manifests/documents.js';
import { HEAP_PER_DOCUMENT_CHAR, renderManifests } from '../../src/manifests/render.js';
import { bundleCli } from '../helpers/cli-bundle.js';
import { FIXTURES } from '../helpers/fixtures.js';
import { hasDevFull, itWhere } from '../helpers/platform.js';
import { captureIo, runCli } from '../helpers/io.js';

const RULES = join(FIXTURES, 'render', 'rules.yaml');
const dir = mkdtempSync(join(tmpdir(), 'image-rewriter-render-input-'));
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});


describe('manifests that are not UTF-8', () => {
  const latin1 = Buffer.concat([Buffer.from('# caf'), Buffer.from([0xe9]), Buffer.from('\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n')]);
  const file = join(dir, 'latin1.yaml');
  writeFileSync(file, latin1);

  it.each([['render'], ['audit']])('%s -f FILE: exit 2, the reason on stderr, nothing on stdout', async (command) => {
    const r = await runCli([command, '--config', RULES, '-f', file]);
    expect(r).toEqual({ code: 2, out: '', err: `error: ${file} is not UTF-8 text (YAML and JSON manifests are)\n` });
  });

  it.each([
    ['little-endian', 'utf16le', [0xff, 0xfe]],
    ['big-endian', 'utf16be', [0xfe, 0xff]],
  ])('%s -f FILE saved as UTF-16 (%s, as Windows PowerShell writes it): exit 2, and what to do', async (_order, name, bom) => {
    const le = Buffer.from('apiVersion: v1\nkind: Pod\n', 'utf16le');
    const text = name === 'utf16le' ? le : Buffer.from(le).swap16();
    const utf16 = join(dir, `${name}.yaml`);
    writeFileSync(utf16, Buffer.concat([Buffer.from(bom), text]));
    for (const command of ['render', 'audit']) {
      const r = await runCli([command, '--config', RULES, '-f', utf16]);
      expect(r).toEqual({ code: 2, out: '', err: `error: ${utf16} is UTF-16 text (Windows PowerShell 5's > writes it); YAML and JSON manifests are UTF-8: save it as UTF-8\n` });
    }
  });

  it('keeps a byte order mark, byte for byte', async () => {
    const bom = join(dir, 'bom.yaml');
    const text = '\ufeffapiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers: [{name: a, image: gcr.io/app:1}]\n';
    writeFileSync(bom, text);
    const r = await runCli(['render', '--config', RULES, '-f', bom]);
    expect(r.code).toBe(0);
    expect(Buffer.from(r.out)).toEqual(Buffer.from(readFileSync(bom, 'utf8').replace('gcr.io/app', 'asia.gcr.io/app')));
    expect(r.out.startsWith('\ufeff')).toBe(true);
  });
});

describe('manifests longer than node can hold as one string (about 512 MiB: kubectl get -A -o json of a large cluster)', () => {
  // Before the fix, V8's ERR_STRING_TOO_LONG went up to main: exit 1, which to `render --check` and
  // `audit` says "something would change", about input that was never read.
  it.each([['render'], ['audit']])('%s -f FILE: exit 2, said plainly, nothing on stdout', async (command) => {
    const big = join(dir, `big-${command}.json`);
    writeFileSync(big, '');
    truncateSync(big, constants.MAX_STRING_LENGTH + 1); // sparse: no disk used
    try {
      const r = await runCli([command, '--config', RULES, '-f', big]);
      expect(r).toEqual({ code: 2, out: '', err: `error: ${big} is larger than node can read as one text (${Math.floor(constants.MAX_STRING_LENGTH / 2 ** 20)} MiB)\n` });
    } finally {
      rmSync(big);
    }
  });

  it.each([['render'], ['audit']])('%s from stdin: exit 2, said plainly', async (command) => {
    const io = captureIo({}, '');
    const tooLong = Object.assign(new Error(`Cannot create a string longer than 0x${constants.MAX_STRING_LENGTH.toString(16)} characters`), { code: 'ERR_STRING_TOO_LONG' });
    const code = await main([command, '--config', RULES, '-f', '-'], { ...io, readStdin: () => Promise.reject(tooLong) });
    expect({ code, out: io.out(), err: io.err() }).toEqual({ code: 2, out: '', err: `error: stdin is larger than node can read as one text (${Math.floor(constants.MAX_STRING_LENGTH / 2 ** 20)} MiB)\n` });
  });
});

describe('a byte order mark after a "---" (files joined with cat)', () => {
  // kubectl reads each document on its own, and go-yaml skips a byte order mark at the start of a
  // line: `cat a.yaml b.yaml` of files saved with one applies both. render and audit read it so
  // (it was refused as "part of the first key"), and render keeps it in its output.
  const pod = (name: string): string => `\ufeffapiVersion: v1\nkind: Pod\nmetadata: {name: ${name}}\nspec:\n  containers: [{name: a, image: gcr.io/${name}:1}]\n`;
  it.each([
    ['LF', (s: string): string => s],
    ['CRLF', (s: string): string => s.replace(/\n/g, '\r\n')],
  ])('render rewrites each document, the marks kept (%s)', async (_, eol) => {
    const joined = join(dir, 'joined-render.yaml');
    writeFileSync(joined, eol(`${pod('p')}---\n${pod('q')}--- # Source: b.yaml\n${pod('r')}`));
    const r = await runCli(['render', '--config', RULES, '-f', joined]);
    expect(r).toEqual({ code: 0, out: eol(`${pod('p')}---\n${pod('q')}--- # Source: b.yaml\n${pod('r')}`).replace(/gcr\.io/g, 'asia.gcr.io'), err: '' });
  });

  it('audit lists the images of each document', async () => {
    const joined = join(dir, 'joined-audit.yaml');
    writeFileSync(joined, `${pod('p')}---\n${pod('q')}`);
    const r = await runCli(['audit', '--config', RULES, '-f', joined, '-o', 'json']);
    expect(r.code).toBe(1);
    expect(r.out.trimEnd().split('\n').map((l) => (JSON.parse(l) as { name: string }).name)).toEqual(['p', 'q']);
  });

  it.each([['render'], ['audit']])('%s names one that is not at the start of its document', async (command) => {
    const joined = join(dir, `joined-${command}.yaml`);
    writeFileSync(joined, `${pod('p')}---\n# a comment first\n${pod('q')}`);
    const r = await runCli([command, '--config', RULES, '-f', joined]);
    expect(r.code).toBe(2);
    expect(r.err).toContain('document 2');
    expect(r.err).toContain('the document starts with a byte order mark (U+FEFF) after its "---" line, read as part of its first key: remove it (files joined with cat keep theirs)');
  });
});

describe('kinds that end in List', () => {
  it('a custom resource with its own items is one object, left alone', async () => {
    const crd = 'apiVersion: example.com/v1\nkind: IPAllowList\nmetadata: {name: x}\nitems: ["10.0.0.0/8"]\n';
    expect(objectsOf({ apiVersion: 'example.com/v1', kind: 'IPAllowList', metadata: { name: 'x' }, items: ['10.0.0.0/8'] })).toMatchObject({ ok: true, objects: [{ kind: 'IPAllowList', pointer: '' }] });
    const file = join(dir, 'crd.yaml');
    writeFileSync(file, crd);
    expect(await runCli(['render', '--config', RULES, '-f', file])).toEqual({ code: 0, out: crd, err: '' });
  });

  it('a typed list of objects is still a list (DeploymentList items lack their kind)', () => {
    const list = { apiVersion: 'apps/v1', kind: 'DeploymentList', items: [{ metadata: { name: 'd' }, spec: {} }] };
    expect(objectsOf(list)).toMatchObject({ ok: true, objects: [{ kind: 'Deployment', pointer: '/items/0' }] });
  });
});

describe('a stream of JSON documents without "---" between them (jq -c, kubectl get ... -o json twice)', () => {
  const podJson = (name: string, pretty: boolean): string =>
    JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'shop' }, spec: { containers: [{ name: 'a', image: `gcr.io/${name}:1` }] } }, null, pretty ? 2 : undefined);
  const file = (name: string, text: string): string => {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  };

  it.each([
    ['one per line', `${podJson('a', false)}\n${podJson('b', false)}\n`],
    ['pretty, back to back', `${podJson('a', true)}${podJson('b', true)}\n`],
  ])('render: one document per value (%s), every other byte as it was', async (_, text) => {
    const r = await runCli(['render', '--config', RULES, '-f', file('stream.json', text)]);
    expect(r).toEqual({ code: 0, out: text.replaceAll('gcr.io/', 'asia.gcr.io/'), err: '' });
  });

  it('render: YAML in flow style is one document, whatever its quoted strings hold', async () => {
    const text = "{apiVersion: v1, kind: Pod, metadata: {name: a}, spec: {containers: [{name: a, image: gcr.io/a}]}, x-note: '}{'}\n";
    expect(await runCli(['render', '--config', RULES, '-f', file('flow.yaml', text)])).toEqual({ code: 0, out: text.replace('gcr.io/', 'asia.gcr.io/'), err: '' });
  });

  it('render: a broken value is named by its document number', async () => {
    const r = await runCli(['render', '--config', RULES, '-f', file('broken.json', `${podJson('a', false)}\n{"kind": }\n`)]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/^error: .*broken\.json: document 2 \(line 2, column \d+\): /);
  });

  it('audit -f: every value is read', async () => {
    const r = await runCli(['audit', '--config', RULES, '-f', file('stream.json', `${podJson('a', false)}\n${podJson('b', true)}\n`), '-o', 'json']);
    expect(r.code).toBe(1);
    expect(r.out.split('\n').filter((l) => l !== '').map((l) => (JSON.parse(l) as { name: string }).name)).toEqual(['a', 'b']);
  });
});

describe('the bundled CLI', () => {
  let cli = '';
  const cliReady = (async (): Promise<void> => {
    cli = await bundleCli(join(dir, 'cli.mjs'));
  })();

  /** Runs the CLI with `stdin`; reads at most `readBytes` of stdout, then closes it (`| head -c`). */
  async function spawnCli(args: string[], stdin: Buffer, readBytes = Infinity, nodeArgs: string[] = []): Promise<{ code: number | null; out: string; err: string }> {
    await cliReady;
    const child = spawn(process.execPath, [...nodeArgs, cli, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => {
      out += c;
      if (out.length >= readBytes) child.stdout.destroy();
    });
    child.stderr.setEncoding('utf8').on('data', (c: string) => (err += c));
    child.stdin.on('error', () => undefined);
    child.stdin.end(stdin);
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    return { code, out, err };
  }

  // Read whole before any check, `render -f /dev/zero` or `yes | render` took all the memory
  // (5 GB in 8 s) and never ended. Reading now stops past MAX_STRING_LENGTH bytes, the most a text
  // node can hold has, without waiting for an end the writer here never gives.
  it.each([
    ['render', 'stdin'],
    ['audit', 'a named pipe (-f FIFO)'],
  ])('%s from %s that does not end: exit 2 once past what node can hold, said plainly', async (command, from) => {
    await cliReady;
    const fifo = join(dir, `endless-${command}`);
    const fromStdin = from === 'stdin';
    if (!fromStdin) execFileSync('mkfifo', [fifo]);
    const child = spawn(process.execPath, [cli, command, '--config', RULES, '-f', fromStdin ? '-' : fifo], { stdio: ['pipe', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.setEncoding('utf8').on('data', (c: string) => (err += c));
    let exited: number | null | undefined;
    const exit = new Promise<void>((resolve) => child.once('exit', (code) => {
      exited = code;
      resolve();
    }));
    const sink = fromStdin ? child.stdin : createWriteStream(fifo);
    sink.on('error', () => undefined);
    // A few MiB past the limit, then no more and no end: without the bound the command waits for ever.
    const chunk = Buffer.alloc(1024 * 1024, 'y');
    for (let written = 0; exited === undefined && written <= constants.MAX_STRING_LENGTH + 4 * chunk.length; written += chunk.length) {
      if (!sink.write(chunk)) await Promise.race([once(sink, 'drain').catch(() => undefined), exit]);
    }
    await Promise.race([exit, new Promise((resolve) => setTimeout(resolve, 20_000))]);
    child.kill();
    sink.destroy();
    expect({ code: exited, err }).toEqual({ code: 2, err: `error: ${fromStdin ? 'stdin' : fifo} is larger than node can read as one text (${Math.floor(constants.MAX_STRING_LENGTH / 2 ** 20)} MiB)\n` });
  }, 120_000);

  it('refuses stdin that is not UTF-8 (exit 2, nothing on stdout)', async () => {
    const r = await spawnCli(['render', '--config', RULES], Buffer.from([0x23, 0x20, 0xe9, 0x0a]));
    expect(r).toEqual({ code: 2, out: '', err: 'error: stdin is not UTF-8 text (YAML and JSON manifests are)\n' });
  }, 30_000);

  // As for -f FILE: `render < file.yaml` of a file saved as UTF-16 was only "not UTF-8 text".
  it.each([
    ['render', 'little-endian', [0xff, 0xfe]],
    ['audit', 'big-endian', [0xfe, 0xff]],
  ])('%s: stdin saved as UTF-16 (%s) is named so, with what to do', async (command, order, bom) => {
    const le = Buffer.from('apiVersion: v1\nkind: Pod\n', 'utf16le');
    const text = order === 'little-endian' ? le : Buffer.from(le).swap16();
    const r = await spawnCli([command, '--config', RULES, '-f', '-'], Buffer.concat([Buffer.from(bom), text]));
    expect(r).toEqual({ code: 2, out: '', err: "error: stdin is UTF-16 text (Windows PowerShell 5's > writes it); YAML and JSON manifests are UTF-8: save it as UTF-8\n" });
  }, 30_000);

  it('ends with its own exit code when the reader of stderr goes away (no crash on EPIPE)', async () => {
    await cliReady;
    const rules = join(dir, 'many-bad-rules.yaml');
    writeFileSync(rules, `rules:\n${Array.from({ length: 3000 }, (_, i) => `  - {name: r${i}, match: "BAD host${i}", replace: x}\n`).join('')}`);
    const child = spawn(process.execPath, [cli, 'check-config', '--config', rules], { stdio: ['ignore', 'ignore', 'pipe'] });
    child.stderr.once('data', () => child.stderr.destroy());
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    // 2: an invalid rules document; before, the unhandled EPIPE ended it with 1.
    expect(code).toBe(2);
  }, 30_000);

  it('ends quietly with its own exit code when the reader closes the pipe early', async () => {
    const docs = Array.from({ length: 3000 }, (_, i) => `---\napiVersion: v1\nkind: Pod\nmetadata: {name: p${i}}\nspec:\n  containers: [{name: a, image: gcr.io/app${i}:1}]\n`).join('');
    const rendered = await spawnCli(['render', '--config', RULES], Buffer.from(docs), 100);
    expect(rendered.code).toBe(0);
    expect(rendered.err).toBe('');
    const audited = await spawnCli(['audit', '--config', RULES, '-f', '-', '-o', 'json'], Buffer.from(docs), 100);
    expect(audited.code).toBe(1);
    expect(audited.err).not.toMatch(/EPIPE|Unhandled|at /);
  }, 30_000);

  /** Runs the CLI with stdout (or stderr) on /dev/full, where every write fails with ENOSPC (a full disk). */
  async function spawnFull(args: string[], stdin: Buffer, full: 'stdout' | 'stderr'): Promise<{ code: number | null; other: string }> {
    await cliReady;
    const fd = openSync('/dev/full', 'w');
    try {
      const child = spawn(process.execPath, [cli, ...args], { stdio: ['pipe', full === 'stdout' ? fd : 'pipe', full === 'stderr' ? fd : 'pipe'] });
      let other = '';
      (full === 'stdout' ? child.stderr : child.stdout)?.setEncoding('utf8').on('data', (c: string) => (other += c));
      child.stdin?.on('error', () => undefined);
      child.stdin?.end(stdin);
      const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
      return { code, other };
    } finally {
      closeSync(fd);
    }
  }

  const unchanged = Buffer.from('apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n');
  const changed = Buffer.from('apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers: [{name: a, image: gcr.io/app:1}]\n');

  // Before, the write error was thrown from the stream's 'error' event: a stack trace, and exit 1,
  // which says "something would change" to render --check and audit, for input where nothing would.
  // /dev/full is Linux's (tests/helpers/platform.ts).
  itWhere(hasDevFull).each([
    ['render', ['render', '--config', RULES], changed, 2],
    ['audit (table)', ['audit', '--config', RULES, '-f', '-'], unchanged, 2],
    ['explain', ['explain', '--config', RULES, 'gcr.io/app:1'], Buffer.alloc(0), 1],
  ])('fails clearly when stdout cannot be written (ENOSPC): %s', async (_name, args, stdin, code) => {
    const r = await spawnFull(args, stdin, 'stdout');
    expect(r).toEqual({ code, other: 'error: cannot write to stdout: ENOSPC: no space left on device, write\n' });
  }, 30_000);

  itWhere(hasDevFull).each([
    ['render --check', ['render', '--config', RULES, '--check'], unchanged, 0],
    ['render --check', ['render', '--config', RULES, '--check'], changed, 1],
    ['audit -o json', ['audit', '--config', RULES, '-f', '-', '-o', 'json'], unchanged, 0],
  ])('keeps its verdict when stderr cannot be written (ENOSPC): %s', async (_name, args, stdin, code) => {
    expect((await spawnFull(args, stdin, 'stderr')).code).toBe(code);
  }, 30_000);

  // README: a document larger than the heap can hold while it is rewritten (about 250 times its
  // size) stops render with exit 2; more heap (--max-old-space-size) lets it through.
  it('bounds a document by the heap node was given: refused with a small heap (exit 2, nothing written), rendered with a larger one', async () => {
    // The heap a 96 MiB old generation gives: V8 adds its young generation, whose size depends on
    // the Node.js version (144 MiB in all on Node.js 20, 288 MiB on 24); the document is a little
    // more than that heap holds at HEAP_PER_DOCUMENT_CHAR.
    const limit = Number(execFileSync(process.execPath, ['--max-old-space-size=96', '-p', "require('node:v8').getHeapStatistics().heap_size_limit"], { encoding: 'utf8' }));
    const capacity = Math.floor(limit / HEAP_PER_DOCUMENT_CHAR);
    const doc = `apiVersion: v1\nkind: Pod\nmetadata:\n  name: big\n  annotations:\n    note: ${'x'.repeat(capacity + 65_536)}\nspec:\n  containers:\n  - name: app\n    image: gcr.io/app:1\n`;
    const small = await spawnCli(['render', '--config', RULES], Buffer.from(doc), Infinity, ['--max-old-space-size=96']);
    expect(small.code).toBe(2);
    expect(small.out).toBe('');
    const mib = (n: number): string => `${(n / 2 ** 20).toFixed(1).replace('.', '\\.')} MiB`;
    expect(small.err).toMatch(new RegExp(`^error: stdin: the document at line 1, column 1 is ${mib(doc.length)}, more than render can hold in memory here \\(${mib(capacity)}: .*NODE_OPTIONS=--max-old-space-size=MiB\\); nothing written\n$`));
    const large = await spawnCli(['render', '--config', RULES], Buffer.from(doc), Infinity, ['--max-old-space-size=1024']);
    expect(large).toEqual({ code: 0, out: doc.replace('gcr.io/app', 'asia.gcr.io/app'), err: '' });
  }, 30_000);
});

describe('a document larger than the heap can hold while it is rewritten', () => {
  const rewriter = rewriterFrom('rules:\n  - {name: gcr, match: gcr.io, replace: asia.gcr.io}\n');
  const pod = (i: number): string => `apiVersion: v1\nkind: Pod\nmetadata: {name: p${i}}\nspec:\n  containers: [{name: a, image: gcr.io/app:1}]\n`;

  // A List is bounded by its largest item instead (tests/unit/render-list.test.ts, render-yaml-list.test.ts).
  it('is refused before it is parsed, naming where it starts and how to get past it', () => {
    const list = `# a comment\n---\n${stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' }, data: Object.fromEntries(Array.from({ length: 400 }, (_, i) => [`key${i}`, 'gcr.io/app:1'])) })}`;
    const r = renderManifests(list, { rewriter, annotate: false, scope: 'all', maxDocumentChars: 4096 });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.error).toMatch(/^the document at line 2, column 1 is 0\.0 MiB, more than render can hold in memory here \(0\.0 MiB: .*\); split it \(a List into its items, one YAML document each\) or give node more heap \(NODE_OPTIONS=--max-old-space-size=MiB\)$/);
  });

  it('bounds each document, not the input: many small documents are rendered', () => {
    const many = Array.from({ length: 200 }, (_, i) => `---\n${pod(i)}`).join('');
    const r = renderManifests(many, { rewriter, annotate: false, scope: 'all', maxDocumentChars: 4096 });
    expect(r.ok && r.output).toBe(many.replaceAll('gcr.io/app', 'asia.gcr.io/app'));
  });
});

describe('a document nested deeper than the parser can recurse (a hostile chart)', () => {
  const pod = (name: string, volumes: string): string => `apiVersion: v1\nkind: Pod\nmetadata: {name: ${name}}\nspec:\n  volumes: ${volumes}\n  containers: [{name: a, image: gcr.io/app:1}]\n`;
  const deep = (n: number): string => '['.repeat(n) + ']'.repeat(n);
  const TOO_DEEP = 'nested too deeply to be read (lists or maps inside one another, hundreds of levels deep)';

  // 1,000 levels are refused before the composer (past MAX_NESTING, src/config/yaml-read.ts), 100,000
  // too, the parser stopped some hundreds of levels in (it overflowed in the syntax tree's own reading,
  // a RangeError caught at the stack's edge, after some 80 MB of parser state): both are that
  // document's error, at its first collection too deep.
  it.each([[1000], [100_000]])('%d levels in the second document: that document named, exit 2 (not 1, which --check uses for "would change")', async (levels) => {
    const file = join(dir, `deep-${levels}.yaml`);
    writeFileSync(file, `${pod('ok', '[]')}---\n${pod('deep', deep(levels))}`);
    const r = await runCli(['render', '--config', RULES, '-f', file, '--check']);
    expect(r.code).toBe(2);
    expect(r.out).toBe('');
    expect(r.err).toMatch(new RegExp(`^error: ${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: document 2( \\(line \\d+, column \\d+\\))?: ${TOO_DEEP.replace(/[()]/g, '\\$&')}; nothing written\n$`));
  });

  it('renderManifests returns the error rather than throwing', () => {
    const rewriter = rewriterFrom('rules:\n  - {name: gcr, match: gcr.io, replace: asia.gcr.io}\n');
    const r = renderManifests(pod('deep', deep(100_000)), { rewriter, annotate: false, scope: 'all' });
    // `  volumes: ` on line 5, then the 255th `[` (the document's mapping and spec are two levels).
    expect(r).toEqual({ ok: false, error: `document 1 (line 5, column ${12 + 254}): ${TOO_DEEP}` });
  });
});

// JavaScript's multiline `^` also matches after U+2028 and U+2029, which YAML 1.2 and JSON read as
// characters of a string, not line breaks: the text was cut inside the string ("Missing closing quote").
describe('"---" after a U+2028 or U+2029 inside a string', () => {
  const rewriter = rewriterFrom('rules:\n  - {name: gcr, match: gcr.io, replace: asia.gcr.io}\n');
  const json = '{"apiVersion":"v1","kind":"Pod","metadata":{"name":"a","annotations":{"note":"x\u2028--- y"}},"spec":{"containers":[{"name":"a","image":"gcr.io/app:1"}]}}';
  const yaml = 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\n  annotations: {note: "x\u2029--- y"}\nspec:\n  containers: [{name: a, image: gcr.io/app:1}]\n';

  it.each([
    ['JSON', json],
    ['YAML', yaml],
  ])('%s: one document, not cut there', (_name, text) => {
    expect(pieces(text)).toEqual([0]);
  });

  it('JSON: rendered', () => {
    const r = renderManifests(json, { rewriter, annotate: false, scope: 'all' });
    expect(r).toMatchObject({ ok: true, output: json.replace('gcr.io/app', 'asia.gcr.io/app') });
  });

  // kubectl (YAML 1.1) takes U+2029 for a line break, and then "---" for a document start inside the string.
  it('YAML: refused, as kubectl refuses it (tests/unit/render-yaml11-breaks.test.ts)', () => {
    const r = renderManifests(yaml, { rewriter, annotate: false, scope: 'all' });
    expect(r).toMatchObject({ ok: false, error: expect.stringContaining('line 5, column 25: U+2029 is a line break to kubectl') as unknown });
  });
});
