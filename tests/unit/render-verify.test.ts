/**
 * `render` with rules that verify (docs/verify.md) decides as the webhook does for the object's
 * CREATE. Against a scriptable HTTPS registry (tests/helpers/fake-registry.ts): a present target is
 * rewritten; a missing one follows onMissing (keep: unchanged with a warning; rewrite: rewritten
 * with a warning; deny: exit 2, nothing written, the error names the document, object, image and
 * reason); an unreachable one follows onUnreachable. Every distinct target is checked once, all in
 * one call, before anything is written, and not at all when the manifests cannot be rendered.
 * Without a planned rewrite whose rule verifies, no verifier is built and no I/O happens. The
 * command's own verifier (the one `invoke` and `serve` build) is checked in process against a port
 * that refuses TLS, and as the bundled CLI trusting the test CA through NODE_EXTRA_CA_CERTS.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { afterAll, describe, expect, it } from '@jest/globals';
import { main } from '../../src/cli/main.js';
import { runRender } from '../../src/cli/render.js';
import type { Verifier, VerifyRequest } from '../../src/verify/verifier.js';
import { ioDuring } from '../helpers/async-io.js';
import { bundleCli } from '../helpers/cli-bundle.js';
import { useClosingPort } from '../helpers/closing-port.js';
import { type Route, useFakeRegistry } from '../helpers/fake-registry.js';
import { captureIo } from '../helpers/io.js';

const registry = useFakeRegistry();
const dir = mkdtempSync(join(tmpdir(), 'image-rewriter-render-verify-'));

/** A registry that never completes a TLS handshake. */
const closer = useClosingPort();
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

const pod = (name: string, image: string): string => `apiVersion: v1\nkind: Pod\nmetadata:\n  name: ${name}\nspec:\n  containers:\n  - name: app\n    image: ${image}\n`;
const POD = pod('p', 'gcr.io/a:1');

/** The rule `gcr` (gcr.io -> the fake registry's gcr/), with `extra` lines of YAML under it. */
function rulesFile(extra: string, host = registry.fake.host): string {
  const file = join(dir, `rules-${String(Math.random()).slice(2)}.yaml`);
  writeFileSync(file, `rules:\n  - name: gcr\n    match: gcr.io\n    replace: ${host}/gcr\n${extra}`);
  return file;
}

interface Run {
  readonly code: number;
  readonly out: string;
  readonly err: string;
  /** The requests of each verify() call, in order. */
  readonly calls: readonly (readonly VerifyRequest[])[];
  /** How many verifiers the command built. */
  readonly built: number;
}

/** `render` in process with the fake registry's verifier (it trusts the test CA), counting its use. */
async function render(extra: string, route: Route, args: string[] = [], stdin = POD): Promise<Run> {
  registry.fake.route = route;
  const io = captureIo({}, stdin);
  const calls: VerifyRequest[][] = [];
  let built = 0;
  const verifier = (): Verifier => {
    built++;
    const inner = registry.verifier();
    return {
      verify: (requests) => {
        calls.push([...requests]);
        return inner.verify(requests);
      },
    };
  };
  const code = await runRender(['--config', rulesFile(extra), ...args], io, { verifier });
  return { code, out: io.out(), err: io.err(), calls, built };
}

const present: Route = (_q, s) => s.writeHead(200).end();
const absent: Route = (_q, s) => s.writeHead(404).end();
const broken: Route = (_q, s) => s.writeHead(500).end();
/** Only `gcr/<repository>` images are there. */
const only = (...repositories: string[]): Route => (_q, s, url) => s.writeHead(repositories.some((r) => url.pathname.startsWith(`/v2/gcr/${r}/manifests/`)) ? 200 : 404).end();

const rewritten = (host: string): string => POD.replace('gcr.io/a:1', `${host}/gcr/a:1`);

describe('render: the target has the image', () => {
  it('rewrites, after one HEAD of the target manifest, with no warning', async () => {
    const r = await render('    verify: true\n', present);
    expect(r).toMatchObject({ code: 0, out: rewritten(registry.fake.host), err: '' });
    expect(registry.fake.seen.map((q) => `${q.method} ${q.path}`)).toEqual(['HEAD /v2/gcr/a/manifests/1']);
  });
});

describe('render: the target lacks the image', () => {
  it('keeps the original by default (onMissing: keep), and warns naming document, object, pointer and reason', async () => {
    const r = await render('    verify: true\n', absent);
    expect(r.code).toBe(0);
    expect(r.out).toBe(POD);
    expect(r.err).toMatch(/^warning: document 1: Pod p: \/spec\/containers\/0\/image: left gcr\.io\/a:1 unchanged \(rule gcr\): not found in 127\.0\.0\.1:\d+\n$/);
  });

  it('--check counts a kept image as not changing', async () => {
    const r = await render('    verify: true\n    onMissing: keep\n', absent, ['--check']);
    expect(r.code).toBe(0);
    expect(r.out).toBe('');
    expect(r.err).toMatch(/^warning: document 1: Pod p: \/spec\/containers\/0\/image: left gcr\.io\/a:1 unchanged \(rule gcr\): not found in .*\nrender --check: no image would change\n$/);
  });

  it('rewrites anyway with onMissing: rewrite, and warns', async () => {
    const r = await render('    verify: true\n    onMissing: rewrite\n', absent);
    expect(r.code).toBe(0);
    expect(r.out).toBe(rewritten(registry.fake.host));
    expect(r.err).toMatch(/^warning: document 1: Pod p: \/spec\/containers\/0\/image: rewrote gcr\.io\/a:1 -> 127\.0\.0\.1:\d+\/gcr\/a:1 anyway \(rule gcr\): not found in 127\.0\.0\.1:\d+\n$/);
    const check = await render('    verify: true\n    onMissing: rewrite\n', absent, ['--check']);
    expect(check.code).toBe(1);
    expect(check.err).toContain('render --check: 1 image(s) in 1 document(s) would change');
  });

  it('fails with onMissing: deny: exit 2, nothing written, the error names document, object, image and reason', async () => {
    const input = `${POD}---\n${pod('q', 'gcr.io/b:1')}`;
    const r = await render('    verify: true\n    onMissing: deny\n', only('a'), [], input);
    expect(r.code).toBe(2);
    expect(r.out).toBe('');
    expect(r.err).toMatch(
      /^error: stdin: document 2 \(line 9, column 1\): Pod q: \/spec\/containers\/0\/image: gcr\.io\/b:1 -> 127\.0\.0\.1:\d+\/gcr\/b:1 \(rule gcr\): not found in 127\.0\.0\.1:\d+; the webhook would deny this object \(onMissing: deny\); nothing written\n$/,
    );
    // --check fails the same way: the webhook would refuse the object, whatever changes.
    expect((await render('    verify: true\n    onMissing: deny\n', absent, ['--check'])).code).toBe(2);
  });

  it('counts an index without a wanted platform as missing', async () => {
    const index = JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [{ digest: 'sha256:a', platform: { os: 'linux', architecture: 'amd64' } }] });
    const r = await render('    verify: true\n    platforms: [linux/amd64, linux/arm64]\n', (_q, s) => s.writeHead(200).end(index));
    expect(r.out).toBe(POD);
    expect(r.err).toMatch(/lacks platform linux\/arm64/);
  });
});

describe('render: the target cannot be asked', () => {
  it('keeps the original by default (onUnreachable: keep), and warns', async () => {
    const r = await render('    verify: true\n', broken);
    expect(r.code).toBe(0);
    expect(r.out).toBe(POD);
    expect(r.err).toMatch(/^warning: document 1: Pod p: \/spec\/containers\/0\/image: left gcr\.io\/a:1 unchanged \(rule gcr\): not checked, 127\.0\.0\.1:\d+ answered 500\n$/);
  });

  it('rewrites with onUnreachable: rewrite, even with onMissing: deny', async () => {
    const r = await render('    verify: true\n    onMissing: deny\n    onUnreachable: rewrite\n', broken);
    expect(r.code).toBe(0);
    expect(r.out).toBe(rewritten(registry.fake.host));
    expect(r.err).toMatch(/rewrote gcr\.io\/a:1 -> .* anyway \(rule gcr\): not checked, 127\.0\.0\.1:\d+ answered 500\n$/);
  });
});

describe('render: the checks of a whole input', () => {
  it('checks every distinct target once, in one call, across documents and List items', async () => {
    const list = `apiVersion: v1\nkind: List\nitems:\n- ${JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'l' }, spec: { containers: [{ name: 'x', image: 'gcr.io/b:1' }] } })}\n`;
    const input = `${POD}---\n${pod('p2', 'gcr.io/a:1')}---\n${list}`;
    const r = await render('    verify: true\n', only('a'), [], input);
    expect(r.code).toBe(0);
    expect(r.built).toBe(1);
    expect(r.calls).toHaveLength(1);
    expect(r.calls[0]?.map((q) => q.image)).toEqual([`${registry.fake.host}/gcr/a:1`, `${registry.fake.host}/gcr/b:1`]);
    expect(registry.fake.seen).toHaveLength(2);
    // a is there (both documents rewritten), b is not (the List's item kept, with a warning).
    expect(r.out.split(`${registry.fake.host}/gcr/a:1`)).toHaveLength(3);
    expect(r.out).toContain('"image":"gcr.io/b:1"');
    expect(r.err).toMatch(/^warning: document 3: Pod l: \/items\/0\/spec\/containers\/0\/image: left gcr\.io\/b:1 unchanged \(rule gcr\): not found/);
  });

  it('a kept image gets no original-images entry and adds no imagePullSecrets, like the webhook', async () => {
    const input = 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n  - name: a\n    image: gcr.io/a:1\n  - name: b\n    image: gcr.io/b:1\n';
    const r = await render('    verify: true\n    imagePullSecrets: [mirror-pull]\n', only('b'), ['--annotate'], input);
    expect(r.code).toBe(0);
    expect(r.out).toContain('    image: gcr.io/a:1\n');
    expect(r.out).toContain(`    image: ${registry.fake.host}/gcr/b:1\n`);
    expect(r.out).toContain(`image-rewriter.io/original-images: '{"containers/b":"gcr.io/b:1"}'`);
    expect(r.out).toContain('  imagePullSecrets:\n  - name: mirror-pull\n');
    const none = await render('    verify: true\n    imagePullSecrets: [mirror-pull]\n', absent, ['--annotate'], input);
    expect(none.out).toBe(input);
  });

  it('checks nothing when the manifests cannot be rendered', async () => {
    const r = await render('    verify: true\n', present, [], `${POD}---\n${POD.replace('image: gcr.io/a:1', 'image: 5')}`);
    expect(r.code).toBe(2);
    expect(r.out).toBe('');
    expect(r.built).toBe(0);
    expect(registry.fake.seen).toEqual([]);
  });

  it('builds no verifier when no planned rewrite verifies (no verify rule, or one that matches nothing)', async () => {
    const plain = await render('', present);
    expect(plain).toMatchObject({ code: 0, out: rewritten(registry.fake.host), err: '', built: 0 });
    const unmatched = await render('    verify: true\n', present, [], pod('p', 'quay.io/a:1'));
    expect(unmatched).toMatchObject({ code: 0, out: pod('p', 'quay.io/a:1'), built: 0 });
    expect(registry.fake.seen).toEqual([]);
  });
});

describe("render's own verifier (the one invoke and serve build)", () => {
  const inline = (host: string, extra: string): Record<string, string> => ({ REWRITE_RULES: `rules:\n  - name: gcr\n    match: gcr.io\n    replace: ${host}/gcr\n${extra}` });

  it('leaves an image whose target cannot be asked unchanged, with a warning (the webhook does)', async () => {
    const io = captureIo(inline(`127.0.0.1:${String(closer.port)}`, '    verify: true\n    onMissing: keep\n'), POD);
    expect(await main(['render'], io)).toBe(0);
    expect(io.out()).toBe(POD);
    expect(io.err()).toMatch(/^warning: document 1: Pod p: \/spec\/containers\/0\/image: left gcr\.io\/a:1 unchanged \(rule gcr\): not checked, /);
  });

  it('does no I/O at all without a verifying rule (a verifying rule does: the count is not blind)', async () => {
    const run = async (env: Record<string, string>): Promise<Record<string, number>> => {
      const io = captureIo(env, POD);
      await main(['render'], io); // modules loaded, so that only the render itself is counted
      return ioDuring(async () => {
        await main(['render'], captureIo(env, POD));
      });
    };
    expect(await run(inline('asia.gcr.io', ''))).toEqual({});
    expect(Object.keys(await run(inline(`127.0.0.1:${String(closer.port)}`, '    verify: true\n')))).toContain('TCPCONNECTWRAP');
  });

  /** The bundled CLI's `render` of `input` with a verifying rule, as a process with `env`: its exit code, stdout and stderr. */
  async function renderProcess(input: string, env: NodeJS.ProcessEnv): Promise<{ code: number | null; out: string; err: string }> {
    const cli = await bundleCli(join(dir, 'cli.mjs'));
    const child = spawn(process.execPath, [cli, 'render', '--config', rulesFile('    verify: true\n')], { stdio: ['pipe', 'pipe', 'pipe'], env });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => (err += d.toString('utf8')));
    const code = new Promise<number | null>((resolve) => child.once('exit', resolve));
    child.stdin.end(input);
    return { code: await code, out, err };
  }

  it('checks many targets at once without a "possible memory leak" warning (the bundled CLI, as a process)', async () => {
    // Answered late, so that all 12 checks listen to the one deadline signal at the same time.
    registry.fake.route = (_q, s) => setTimeout(() => s.writeHead(404).end(), 300);
    const input = Array.from({ length: 12 }, (_, i) => pod(`p${i}`, `gcr.io/app${i}:1`)).join('---\n');
    const { code, err } = await renderProcess(input, { ...process.env, NODE_EXTRA_CA_CERTS: registry.pki.caFile });
    expect(code).toBe(0);
    expect(err.match(/^warning: .* unchanged \(rule gcr\): not found in /gm)).toHaveLength(12);
    expect(err).not.toContain('MaxListenersExceededWarning');
  }, 30_000);

  /** The bundled CLI's `render` with the test CA only in an operating system store of SSL_CERT_FILE. */
  function renderWithStore(store: string): Promise<{ code: number | null; out: string; err: string }> {
    registry.fake.route = only('a');
    const env: NodeJS.ProcessEnv = { ...process.env, SSL_CERT_FILE: store, SSL_CERT_DIR: mkdtempSync(join(dir, 'certs-')) };
    delete env['NODE_EXTRA_CA_CERTS'];
    delete env['NODE_OPTIONS'];
    return renderProcess(POD, env);
  }

  // tls.getCACertificates reads the store: Node.js 22.15, 23.5 and later (the Lambda runtime's and
  // the image's 24); an older Node trusts its defaults only. CI runs this file on both.
  const readsStore = typeof (tls as { getCACertificates?: unknown }).getCACertificates === 'function';

  it(`${readsStore ? 'trusts' : 'cannot read (this Node)'} a CA in the operating system's store (SSL_CERT_FILE; the bundled CLI, as a process)`, async () => {
    const { code, out, err } = await renderWithStore(registry.pki.caFile);
    expect(code).toBe(0);
    if (readsStore) {
      expect(out).toBe(rewritten(registry.fake.host));
      expect(err).toBe('');
    } else {
      expect(out).toBe(POD);
      expect(err).toMatch(/^warning: .*left gcr\.io\/a:1 unchanged \(rule gcr\): .*TLS error/m);
    }
  }, 30_000);

  it("refuses the registry when neither Node's defaults nor the store have its CA", async () => {
    const other = join(dir, 'other-ca.pem');
    // A store with a CA, but another one (the first of Node's bundled list).
    writeFileSync(other, tls.rootCertificates[0] ?? '');
    const { code, out, err } = await renderWithStore(other);
    expect(code).toBe(0);
    expect(out).toBe(POD);
    expect(err).toMatch(/^warning: .*left gcr\.io\/a:1 unchanged \(rule gcr\): .*TLS error/m);
  }, 30_000);

  it('trusts NODE_EXTRA_CA_CERTS (the bundled CLI, as a process)', async () => {
    registry.fake.route = only('a');
    const { code, out, err } = await renderProcess(`${POD}---\n${pod('q', 'gcr.io/b:1')}`, { ...process.env, NODE_EXTRA_CA_CERTS: registry.pki.caFile });
    expect(code).toBe(0);
    expect(out).toBe(`${rewritten(registry.fake.host)}---\n${pod('q', 'gcr.io/b:1')}`);
    expect(err).toMatch(/^warning: document 2: Pod q: \/spec\/containers\/0\/image: left gcr\.io\/b:1 unchanged \(rule gcr\): not found in 127\.0\.0\.1:\d+\n$/);
  }, 30_000);
});
