/** The CLI contract of DESIGN.md: explain, check-config, version, help, exit codes. */
import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { strictUtf8 } from '../../src/cli/common.js';
import { EXIT, main } from '../../src/cli/main.js';
import { ENV } from '../../src/config/settings.js';
import { FIXTURES, REPO_ROOT, TEST_ENV } from '../helpers/fixtures.js';
import { captureIo } from '../helpers/io.js';

const demo = join(FIXTURES, 'valid-demo.yaml');

function lines(s: string): unknown[] {
  return s.trim().split('\n').map((l) => JSON.parse(l) as unknown);
}

describe('explain', () => {
  it('prints one JSON object per image, in order', async () => {
    const io = captureIo(TEST_ENV);
    const code = await main(['explain', '--config', demo, 'gcr.io/nginx', 'quay.io/x', 'NOPE'], io);
    expect(code).toBe(EXIT.ok);
    expect(lines(io.out())).toEqual([
      { image: 'gcr.io/nginx', rewritten: 'asia.gcr.io/nginx', rule: 'gcr' },
      { image: 'quay.io/x', rewritten: 'quay.io/x', rule: '' },
      { image: 'NOPE', rewritten: 'NOPE', rule: '', error: 'invalid reference format: repository name (library/NOPE) must be lowercase' },
    ]);
    expect(io.err()).toBe('');
  });

  it('reads images from stdin with "-"', async () => {
    const io = captureIo(TEST_ENV, 'gcr.io/a\n\nk8s.gcr.io/pause:3.9\n');
    expect(await main(['explain', '-c', demo, '-'], io)).toBe(EXIT.ok);
    expect(lines(io.out())).toEqual([
      { image: 'gcr.io/a', rewritten: 'asia.gcr.io/a', rule: 'gcr' },
      { image: 'k8s.gcr.io/pause:3.9', rewritten: 'asia.gcr.io/google-containers/pause:3.9', rule: 'k8s-gcr' },
    ]);
  });

  // kubectl get pods -o jsonpath='{..image}' prints a list's images on one line, separated by spaces.
  it('reads images separated by spaces or tabs on a line, as kubectl\'s jsonpath prints them', async () => {
    const io = captureIo(TEST_ENV, '  gcr.io/a k8s.gcr.io/pause:3.9\tquay.io/x \n');
    expect(await main(['explain', '-c', demo, '-'], io)).toBe(EXIT.ok);
    expect(lines(io.out())).toEqual([
      { image: 'gcr.io/a', rewritten: 'asia.gcr.io/a', rule: 'gcr' },
      { image: 'k8s.gcr.io/pause:3.9', rewritten: 'asia.gcr.io/google-containers/pause:3.9', rule: 'k8s-gcr' },
      { image: 'quay.io/x', rewritten: 'quay.io/x', rule: '' },
    ]);
  });

  it('reads images from stdin that starts with a byte order mark, and CRLF lines', async () => {
    const io = captureIo(TEST_ENV, '\uFEFFgcr.io/a\r\ngcr.io/b\r\n');
    expect(await main(['explain', '-c', demo, '-'], io)).toBe(EXIT.ok);
    expect(lines(io.out())).toEqual([
      { image: 'gcr.io/a', rewritten: 'asia.gcr.io/a', rule: 'gcr' },
      { image: 'gcr.io/b', rewritten: 'asia.gcr.io/b', rule: 'gcr' },
    ]);
  });

  it('says stdin is not UTF-8 instead of quoting the decoder (exit 1, nothing on stdout)', async () => {
    const io = captureIo(TEST_ENV);
    const notUtf8 = {
      ...io,
      readStdin: () => Promise.resolve().then(() => strictUtf8.decode(Uint8Array.of(0x67, 0xff, 0x0a))),
      stdinChunks: () => Readable.from([Uint8Array.of(0x67, 0xff, 0x0a)]),
    };
    expect(await main(['explain', '-c', demo, '-'], notUtf8)).toBe(EXIT.failure);
    expect(io.out()).toBe('');
    expect(io.err()).toBe('error: stdin is not UTF-8 text (one image reference per line)\n');
  });

  it('scopes rules to --namespace', async () => {
    const io = captureIo(TEST_ENV);
    await main(['explain', '--config', join(FIXTURES, 'valid-internal-port.yaml'), '--namespace', 'team-a', 'nginx'], io);
    expect(lines(io.out())).toEqual([{ image: 'nginx', rewritten: 'registry.internal:5000/hub/library/nginx', rule: 'team-mirror' }]);
  });

  // The README's Troubleshooting step for "Pods are not rewritten" is explain IMAGE: for a rule
  // limited to `namespaces` it answered "unchanged, no rule" without a word, which reads as "the
  // rule does not match this image". The answer is the same (an object of no namespace); a note
  // on stderr now names the rules that would rewrite an image in their namespaces.
  const RULES = [
    'rules:',
    '  - {name: team, match: docker.io, replace: mirror.example.com/hub, namespaces: ["team-*"]}',
    '  - {name: staging, match: quay.io, replace: mirror.example.com/quay, namespaces: [staging]}',
    '  - {name: gcr-p, match: gcr.io/p, replace: asia.gcr.io/p}',
    '  - {name: gcr, match: gcr.io, replace: mirror.example.com/gcr, namespaces: [x]}',
    'exclude: [docker.io/library/busybox]',
  ].join('\n');
  it.each([
    ['an image only a namespace-limited rule matches', ['nginx'], 'note: rule "team" applies only in the namespaces it lists, where an image above would be rewritten: give --namespace NS to explain the images of a Pod in NS\n'],
    ['two such rules', ['nginx', 'quay.io/a', 'gcr.io/p/b'], 'note: rules "team", "staging" apply only in the namespaces they list, where an image above would be rewritten: give --namespace NS to explain the images of a Pod in NS\n'],
    ['an image a rule without namespaces takes first', ['gcr.io/p/x'], ''],
    ['an excluded image', ['busybox'], ''],
    ['an invalid image', ['NOPE'], ''],
    ['an image no rule matches', ['ghcr.io/a'], ''],
  ])('without --namespace: %s', async (_, images, note) => {
    const io = captureIo({ REWRITE_RULES: RULES });
    expect(await main(['explain', ...images], io)).toBe(EXIT.ok);
    expect(lines(io.out()).map((l) => (l as { rule: string }).rule)).not.toContain('team');
    expect(io.err()).toBe(note);
  });

  // explain answers for the reference `auto` (docker.io/library/auto); as a container's image in
  // Istio's gateway manifests it is a placeholder that the webhook, render and audit leave alone,
  // so checking a manifest's images with explain read as "this will be rewritten" without a word.
  it.each([
    ['auto, which a rule rewrites', ['auto', 'nginx'], true],
    ['no auto among the images', ['ghcr.io/a', 'nginx'], false],
    ['an image that merely contains auto', ['auto:1', 'docker.io/library/auto'], false],
  ])('the placeholder note: %s', async (_, images, noted) => {
    const io = captureIo({ REWRITE_RULES: 'rules:\n  - {name: hub, match: docker.io, replace: mirror.example.com/hub}\n' });
    expect(await main(['explain', ...images], io)).toBe(EXIT.ok);
    expect(lines(io.out())).toHaveLength(images.length);
    expect(io.err()).toBe(
      noted ? 'note: "auto" as a container\'s or init container\'s image is the placeholder of Istio\'s gateway injection: the webhook, render and audit leave it as it is (the injector replaces it with the proxy image, which they rewrite)\n' : '',
    );
  });

  it('no placeholder note when no rule rewrites auto', async () => {
    const io = captureIo({ REWRITE_RULES: 'rules:\n  - {name: gcr, match: gcr.io, replace: asia.gcr.io}\n' });
    expect(await main(['explain', 'auto'], io)).toBe(EXIT.ok);
    expect(lines(io.out())).toEqual([{ image: 'auto', rewritten: 'auto', rule: '' }]);
    expect(io.err()).toBe('');
  });

  it('with --namespace: no note, the rules of that namespace apply', async () => {
    const io = captureIo({ REWRITE_RULES: RULES });
    expect(await main(['explain', '-n', 'team-a', 'nginx', 'quay.io/a'], io)).toBe(EXIT.ok);
    expect(lines(io.out())).toEqual([
      { image: 'nginx', rewritten: 'mirror.example.com/hub/library/nginx', rule: 'team' },
      { image: 'quay.io/a', rewritten: 'quay.io/a', rule: '' },
    ]);
    expect(io.err()).toBe('');
  });

  // `--namespace "$NS"` with NS unset: it answered for a namespace named "" (no object has one),
  // so `namespaces:` rules never matched and `excludeNamespaces: ["*"]` ones always did.
  it.each([[['-n', '']], [['--namespace=']]])('an empty namespace (%j): a usage error, as for render and audit', async (flag) => {
    const io = captureIo(TEST_ENV);
    expect(await main(['explain', '--config', join(FIXTURES, 'valid-internal-port.yaml'), ...flag, 'nginx'], io)).toBe(EXIT.usage);
    expect(io.out()).toBe('');
    expect(io.err()).toContain('error: -n/--namespace is empty: name a namespace, or leave the flag out');
  });

  it('reads the rules from REWRITE_RULES without --config', async () => {
    const io = captureIo({ REWRITE_RULES: '{"rules":[{"name":"g","match":"gcr.io","replace":"asia.gcr.io"}]}' });
    expect(await main(['explain', 'gcr.io/x'], io)).toBe(EXIT.ok);
    expect(lines(io.out())).toEqual([{ image: 'gcr.io/x', rewritten: 'asia.gcr.io/x', rule: 'g' }]);
  });

  it('exits 2 on an invalid rules document and lists every problem', async () => {
    const io = captureIo(TEST_ENV);
    expect(await main(['explain', '--config', join(FIXTURES, 'invalid-match-and-regex.yaml'), 'nginx'], io)).toBe(EXIT.invalidConfig);
    expect(io.out()).toBe('');
    expect(io.err()).toContain('rules[0]: has both "match" and "regex"; use one');
    expect(io.err()).toContain('rules[1]: needs one of "match" or "regex"');
  });

  it.each([
    { args: ['explain', '--config', demo], message: 'explain needs at least one IMAGE' },
    { args: ['explain', '--confg', demo, 'x'], message: 'unknown option --confg (did you mean --config?)' },
    { args: ['explain', 'x'], message: 'REWRITE_RULES: no rules: set REWRITE_RULES (inline YAML or JSON) or REWRITE_RULES_PARAMETER (an SSM parameter name); the command line also takes --config FILE' },
    { args: ['nope'], message: 'unknown command "nope"' },
    { args: [], message: 'Usage:' },
  ])('usage error for $args', async ({ args, message }) => {
    const io = captureIo({});
    expect(await main(args, io)).toBe(EXIT.usage);
    expect(io.err()).toContain(message);
  });

  it('says clearly when the rules file cannot be read', async () => {
    const io = captureIo({});
    expect(await main(['explain', '--config', '/nonexistent/rules.yaml', 'x'], io)).toBe(EXIT.invalidConfig);
    expect(io.err()).toBe('error: cannot read rules document /nonexistent/rules.yaml: no such file or directory (ENOENT)\n');
  });
});

describe('check-config', () => {
  it('exits 0 on a valid document', async () => {
    const io = captureIo(TEST_ENV);
    expect(await main(['check-config', '--config', demo], io)).toBe(EXIT.ok);
    expect(io.out()).toBe('ok: 2 rule(s), 0 exclusion(s)\n');
  });

  it('lists every problem and exits non-zero', async () => {
    const io = captureIo(TEST_ENV);
    const code = await main(['check-config', '--config', join(FIXTURES, 'invalid-replace-yields-invalid.yaml')], io);
    expect(code).not.toBe(0);
    const problems = io.err().split('\n').filter((l) => /^\s+rules\[\d\]/.test(l));
    expect(problems).toHaveLength(8);
  });

  it('prints warnings, and fails on them only with --strict', async () => {
    const { writeFileSync, mkdtempSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const f = join(mkdtempSync(join(tmpdir(), 'ir-')), 'shadow.yaml');
    writeFileSync(f, 'rules:\n  - {name: all, match: docker.io, replace: a.example.com}\n  - {name: nginx, match: docker.io/library/nginx, replace: b.example.com}\n');
    const io = captureIo({});
    expect(await main(['check-config', '--config', f], io)).toBe(EXIT.ok);
    expect(io.err()).toContain('warning: rules[1]: rule "nginx" is never used');
    const strict = captureIo({});
    expect(await main(['check-config', '--config', f, '--strict'], strict)).toBe(EXIT.invalidConfig);
  });

  it('a problem quoting escape sequences, newlines or bidi controls stays one printable line', async () => {
    const { writeFileSync, mkdtempSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const f = join(mkdtempSync(join(tmpdir(), 'ir-')), 'hostile.yaml');
    writeFileSync(f, 'rules:\n  - name: a\n    match: gcr.io\n    replace: "evil\\e]0;pwned\\a\\e[2J\\nrules[1].fake: all good\\u202e\\u2028\\x9b"\n  - name: b\n    match: quay.io\n    replace: q.example.com\n    "x\\e[31m": 1\n');
    const io = captureIo({});
    expect(await main(['check-config', '--config', f], io)).toBe(EXIT.invalidConfig);
    const err = io.err();
    // eslint-disable-next-line no-control-regex -- control characters are what must not be written
    expect(err).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202e\u2028]/);
    const problems = err.split('\n').filter((l) => l.startsWith('  '));
    expect(problems).toEqual([
      expect.stringMatching(/^ {2}rules\[0\]\.replace: "evil\\u001b\]0;pwned\\u0007\\u001b\[2J\\u000arules\[1\]\.fake: all good\\u202e\\u2028\\u009b" /),
      expect.stringMatching(/^ {2}rules\[1\]\["x\\u001b\[31m"\]: unknown field /),
    ]);
  });
});

describe('a rules file larger than 1 MiB', () => {
  // It was read whole before its size was checked: a 1.5 GB file took 1.5 GB of memory and said
  // ERR_STRING_TOO_LONG, a 3 GB one ERR_FS_FILE_TOO_LARGE, and --config /dev/zero never ended.
  // Sparse files: no disk used.
  it.each([
    [['check-config']],
    [['explain', 'gcr.io/a']],
    [['webhook-config', '--url', 'https://a.example/mutate/0123456789abcdef']],
  ])('%j is refused for its size, having read only what the limit needs', async (args) => {
    const { mkdtempSync, openSync, ftruncateSync, closeSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const f = join(mkdtempSync(join(tmpdir(), 'ir-')), 'huge.yaml');
    const fd = openSync(f, 'w');
    ftruncateSync(fd, 3 * 1024 ** 3);
    closeSync(fd);
    const [name, ...rest] = args;
    const io = captureIo(TEST_ENV);
    expect(await main([name ?? '', '--config', f, ...rest], io)).toBe(EXIT.invalidConfig);
    expect(io.err()).toContain(`invalid rules document ${f}:\n  (document): larger than 1048576 bytes\n`);
    expect(io.out()).toBe('');
  });
});

describe('version and help', () => {
  it('prints the version', async () => {
    const io = captureIo({});
    expect(await main(['version'], io)).toBe(EXIT.ok);
    expect(io.out()).toMatch(/^\d+\.\d+\.\d+(-[\w.]+)?\n$/);
  });

  it.each([['help'], ['--help'], ['-h']])('%s prints usage with every command', async (flag) => {
    const io = captureIo({});
    expect(await main([flag], io)).toBe(EXIT.ok);
    for (const c of ['explain', 'check-config', 'serve', 'webhook-config', 'invoke', 'version']) expect(io.out()).toContain(`image-rewriter ${c}`);
  });

  // check-config's description began a column left of every other one.
  it("starts every description of the usage in one column", async () => {
    const io = captureIo({});
    expect(await main(['help'], io)).toBe(EXIT.ok);
    const usage = (io.out().split('\n\n')[1] ?? '').split('\n').slice(1);
    const columns = new Set(usage.flatMap((l) => {
      const at = /\S {3,}(?=[a-z(-])/.exec(l);
      return at === null ? [] : [at.index + at[0].length];
    }));
    expect(usage.length).toBeGreaterThan(20);
    expect([...columns]).toHaveLength(1);
  });

  // `help bogus` said "help takes one command name: bogus", as if one name were too many.
  it.each([
    [['help', 'bogus'], 'error: unknown command "bogus": help takes one of explain, check-config, serve, webhook-config, invoke, render, audit, version, help'],
    [['help', 'explain', 'render'], 'error: help takes one command name: explain render'],
  ])('%j: exit 64, and why', async (args, message) => {
    const io = captureIo({});
    expect(await main(args, io)).toBe(EXIT.usage);
    expect(io.out()).toBe('');
    expect(io.err().split('\n')[0]).toBe(message);
  });

  // The usage named WEBHOOK_TOKEN alone, and 64 as a usage error alone: serve reads the token from
  // any of the three, and settings that cannot be used (two rules sources, no rules) exit 64 too.
  it("names every token variable serve reads, and what exit 64 also means: settings that cannot be used", async () => {
    const help = captureIo({});
    expect(await main(['help'], help)).toBe(EXIT.ok);
    const usage = help.out().replace(/\s+/g, ' ');
    for (const v of [ENV.token, ENV.tokenParameter, ENV.tokenSecretArn]) expect(usage).toContain(v);
    expect(usage).toContain(`${EXIT.usage} usage error or settings that cannot be used`);
    // docs/design.md's contract gave 64 as a usage error alone.
    expect(readFileSync(join(REPO_ROOT, 'docs', 'design.md'), 'utf8').replace(/\s+/g, ' ')).toContain(`${EXIT.usage} usage error or settings that cannot be used`);
    const io = captureIo({ ...TEST_ENV, [ENV.rules]: 'rules: []', [ENV.rulesParameter]: '/image-rewriter/rules' });
    expect(await main(['check-config'], io)).toBe(EXIT.usage);
  });
});

describe('a usage error that echoes a flag value', () => {
  it.each([
    ['webhook-config --name', ['webhook-config', '--url', 'https://example.com/x', '--name', 'a\u001b[31m', '--timeout-seconds', '99'], '--name must be a Kubernetes object name (lower-case letters, digits, "-" and ".", at most 253 characters): a\\u001b[31m'],
    ['audit --webhook-config', ['audit', '--webhook-config', 'a\u001b]0;x\u0007', '-f', '-'], '--webhook-config must name a MutatingWebhookConfiguration (a Kubernetes object name): a\\u001b]0;x\\u0007'],
    ['an unknown option', ['render', '--x\u001b[2J'], 'unknown option --x\\u001b[2J'],
  ])('%s: its control characters escaped, every line of it still a line', async (_what, args, shown) => {
    const io = captureIo(TEST_ENV, '');
    expect(await main(args, io)).toBe(EXIT.usage);
    expect(io.err()).toContain(shown);
    expect(io.err().replace(/[^\n -~]/g, '')).toBe(io.err());
    expect(io.err().startsWith('error: ')).toBe(true);
  });

  it('webhook-config: each problem on its own line', async () => {
    const io = captureIo(TEST_ENV);
    await main(['webhook-config', '--url', 'https://example.com/x', '--name', 'A', '--timeout-seconds', '99'], io);
    expect(io.err().split('\n').filter((l) => l.startsWith('error: '))).toHaveLength(2);
  });
});

describe('--config ""', () => {
  it.each([
    [['explain', '--config', '', 'gcr.io/a']],
    [['check-config', '--config', '']],
    [['render', '--config', '', '-f', join(FIXTURES, 'valid-demo.yaml')]],
    [['audit', '--config', '', '-f', '-']],
    [['invoke', '--config', '', join(FIXTURES, '..', '..', 'events', 'rest-pod-v1.json')]],
    [['webhook-config', '--url', 'https://a.example/mutate/0123456789abcdef', '--config', '']],
  ])('%j says it names no rules document, with the exit code of one that cannot be read (2)', async (args) => {
    const io = captureIo(TEST_ENV, '');
    expect(await main(args, io)).toBe(EXIT.invalidConfig);
    expect(io.err()).toBe('error: --config names no rules document (it is empty)\n');
    expect(io.out()).toBe('');
  });
});

describe('one JSON object per line, for every reader', () => {
  // JSON.stringify leaves U+2028/U+2029/U+0085 raw (Python's splitlines breaks a line there) and
  // bidirectional-text controls (a terminal shows the line reordered): they are escaped.
  const odd = 'gcr.io/a\u2028b\u0085c\u202ed';
  it('explain escapes them, and the line parses back to the same value', async () => {
    const io = captureIo(TEST_ENV, `${odd}\n`);
    expect(await main(['explain', '-c', demo, '-'], io)).toBe(EXIT.ok);
    const out = io.out();
    const error = 'invalid reference format: U+2028 at character 9, not printable ASCII (a look-alike or invisible character copied with it?)';
    expect(out).toBe(`${JSON.stringify({ image: odd, rewritten: odd, rule: '', error }).replaceAll('\u2028', '\\u2028').replaceAll('\u0085', '\\u0085').replaceAll('\u202e', '\\u202e')}\n`);
    expect(out.trimEnd().split(/\r\n|[\n\r\u0085\u2028\u2029]/)).toHaveLength(1);
    expect(JSON.parse(out)).toEqual({ image: odd, rewritten: odd, rule: '', error });
  });

  it('explain escapes invisible characters (a zero-width or no-break space) and says where the first is', async () => {
    // Quoted raw, `{"image":"gcr.io/nginx\u200b"}` read as a valid image refused, with "invalid reference format".
    const io = captureIo(TEST_ENV);
    expect(await main(['explain', '-c', demo, 'gcr.io/nginx\u200b:1', 'gcr.io/nginx\u00a0', 'gcr.io/ngin\u0445'], io)).toBe(EXIT.ok);
    const lines = io.out().trimEnd().split('\n');
    expect(lines[0]).toBe('{"image":"gcr.io/nginx\\u200b:1","rewritten":"gcr.io/nginx\\u200b:1","rule":"","error":"invalid reference format: U+200B at character 13, not printable ASCII (a look-alike or invisible character copied with it?)"}');
    expect(lines[1]).toContain('"image":"gcr.io/nginx\\u00a0"');
    // A Cyrillic look-alike is a letter, written as it is, but its code point is named.
    expect(JSON.parse(lines[2] ?? '')).toEqual({ image: 'gcr.io/ngin\u0445', rewritten: 'gcr.io/ngin\u0445', rule: '', error: 'invalid reference format: U+0445 at character 12, not printable ASCII (a look-alike or invisible character copied with it?)' });
    expect(lines.map((l) => JSON.parse(l) as unknown)).toHaveLength(3);
  });

  it('audit -o json escapes them in names from the cluster', async () => {
    const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p\u2028q', namespace: 'shop' }, spec: { containers: [{ name: 'c\u2029', image: 'gcr.io/app:1' }] } };
    const io = captureIo(TEST_ENV, JSON.stringify(pod));
    expect(await main(['audit', '-c', demo, '-f', '-', '-o', 'json'], io)).toBe(EXIT.failure);
    const out = io.out();
    expect(out.trimEnd().split(/\r\n|[\n\r\u0085\u2028\u2029]/)).toHaveLength(1);
    expect(JSON.parse(out)).toMatchObject({ name: 'p\u2028q', container: 'c\u2029', image: 'gcr.io/app:1', rewritten: 'asia.gcr.io/app:1' });
  });
});

describe('an argument where only flags are taken', () => {
  // Node's own words were "Unexpected argument 'rules.yaml'. This command does not take positional arguments".
  it.each([
    [['check-config', 'rules.yaml'], 'unexpected argument "rules.yaml": this command takes no arguments, only flags; a rules document is given as --config rules.yaml'],
    [['webhook-config', '--url', 'https://x.example.com/mutate/abcdefghijklmnop', 'extra'], 'unexpected argument "extra": this command takes no arguments, only flags'],
    [['serve', 'x\u200b'], 'unexpected argument "x\\u200b": this command takes no arguments, only flags'],
  ])('%j: says which, and where a rules document goes', async (args, message) => {
    const io = captureIo(TEST_ENV);
    expect(await main(args, io)).toBe(EXIT.usage);
    expect(io.err()).toBe(`error: ${message}\nRun "image-rewriter help" for usage.\n`);
  });
});

describe('an unknown option', () => {
  // Node's words: "Unknown option '--tls-cert'. To specify a positional argument starting with a '-', place it at the end of the command after '--', as in '-- "--tls-cert"".
  it.each([
    [['serve', '--tls-cert', 'c.pem'], 'unknown option --tls-cert (did you mean --tls-cert-file?)'],
    [['audit', '--kube-config', 'kc'], 'unknown option --kube-config (did you mean --kubeconfig?)'],
    [['check-config', '--strct'], 'unknown option --strct (did you mean --strict?)'],
    [['render', '-x'], 'unknown option -x'],
    [['render', '--x\u001b[2J'], 'unknown option --x\\u001b[2J'],
  ])('%j: said with what was meant', async (args, message) => {
    const io = captureIo(TEST_ENV);
    expect(await main(args, io)).toBe(EXIT.usage);
    expect(io.err()).toBe(`error: ${message}\nRun "image-rewriter help" for usage.\n`);
  });

  it('--help after a command is still its usage', async () => {
    const io = captureIo(TEST_ENV);
    expect(await main(['render', '--help'], io)).toBe(EXIT.ok);
    expect(io.out()).toContain('Usage:');
  });
});

describe('a look-alike or invisible character in a name given as a flag', () => {
  // "-n/--namespace must be a namespace name (...): dеv" (a Cyrillic e) quoted a value that looks right.
  const NOTE = 'not printable ASCII (a look-alike or invisible character copied with it?)';
  it.each([
    [['audit', '-f', '-', '-n', 'd\u0435v'], `: d\u0435v: U+0435 at character 2, ${NOTE}\n`],
    [['serve', '--config', demo, '--allow-unauthenticated', '--tls-cert-file', 'c', '--tls-private-key-file', 'k', '--listen', 'l\u043ecalhost:8443'], `--listen: l\u043ecalhost is not an IP address or host name: U+043E at character 2, ${NOTE}\n`],
    [['webhook-config', '--url', 'https://x.example.com/mutate/abcdefghijklmnop', '--name', 'image-rewriter\u200b'], `: image-rewriter\\u200b: U+200B at character 15, ${NOTE}\n`],
    [['webhook-config', '--service', 'ns/n\u0430me', '--token', 'abcdefghijklmnopqrstuvwxyz'], `: n\u0430me: U+0430 at character 2, ${NOTE}\n`],
  ])('%j: says which and where', async (args, end) => {
    const io = captureIo(TEST_ENV);
    expect(await main(args, io)).toBe(EXIT.usage);
    expect(io.err()).toContain(end);
  });
});

describe('values quoted in error messages, for a terminal', () => {
  // A flag's value or a path came back raw: an escape sequence recoloured the terminal, a newline
  // forged a line of its own ("error: forged"), and a zero-width space or a CRLF file's "\r" left
  // "--scope must be one of pods, all: pods" with nothing to show what was wrong.
  const hostile = 'x\u001b[31m\nerror: forged\u200b\r';
  const shown = 'x\\u001b[31m\\u000aerror: forged\\u200b\\u000d';
  it.each([
    ['webhook-config --scope', ['webhook-config', '--url', 'https://x.example.com/mutate/t', '--scope', hostile], `--scope must be one of pods, all: ${shown}`],
    ['webhook-config --failure-policy', ['webhook-config', '--url', 'https://x.example.com/mutate/t', '--failure-policy', hostile], `--failure-policy must be Ignore or Fail: ${shown}`],
    ['webhook-config --service', ['webhook-config', '--service', hostile, '--token', 'a'.repeat(32)], `--service must be NAMESPACE/NAME or NAMESPACE/NAME:PORT (e.g. image-rewriter/image-rewriter:443): ${shown}`],
    ['render --scope (which did not say the value)', ['render', '--scope', hostile], `--scope must be one of all, pods: ${shown}`],
    ['audit -o (which did not say the value)', ['audit', '-f', '-', '-o', hostile], `-o must be one of table, json: ${shown}`],
    ['audit --page-size', ['audit', '-f', '-', '--page-size', hostile], `--page-size must be a whole number from 1 to 10000: ${shown}`],
    ['audit with an argument', ['audit', '-f', '-', hostile], `audit takes no arguments (got "${shown}")`],
    ['serve --workers', ['serve', '--workers', hostile], `--workers must be a whole number from 1 to 256: ${shown}`],
    ['help TOPIC', ['help', hostile], `unknown command "${shown}": help takes one of`],
  ])('%s: escaped, on one line', async (_what, args, message) => {
    const io = captureIo(TEST_ENV);
    expect(await main(args, io)).toBe(EXIT.usage);
    expect(io.err()).toContain(`error: ${message}`);
    expect(io.err()).not.toContain('\nerror: forged');
    expect(io.err()).toMatch(/^[\x20-\x7e\n]*$/);
    expect(io.out()).toBe('');
  });

  it('an unknown command: escaped', async () => {
    const io = captureIo(TEST_ENV);
    expect(await main([hostile], io)).toBe(EXIT.usage);
    expect(io.err()).toContain(`error: unknown command "${shown}"\n`);
    expect(io.err()).not.toContain('\nerror: forged');
  });

  it('a path holding an invisible character or an escape sequence: escaped where it cannot be read', async () => {
    const io = captureIo(TEST_ENV);
    expect(await main(['check-config', '--config', join(FIXTURES, 'valid-demo.yaml\u200b\u001b[2J')], io)).toBe(EXIT.invalidConfig);
    expect(io.err()).toMatch(/^error: cannot read rules document .*valid-demo\.yaml\\u200b\\u001b\[2J: no such file or directory \(ENOENT\)\n$/);
  });
});
