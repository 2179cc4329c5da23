/**
 * The command line's contract at its edges: an option given twice is a usage error (the last one
 * would win without a word), `--help` on any command, `help` and `version` refuse what they do not
 * take, `check-config --strict` fails without first saying "ok", and rules-document messages that
 * say what is allowed (not zod/mini's bare "Invalid input", not the YAML parser's advice to its
 * callers). Blank environment values count as unset in `${env:}`. A rules parameter that cannot be
 * read says why (the AWS SDK's message), not only the error's name.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { afterAll, describe, expect, it } from '@jest/globals';
import { mockClient } from 'aws-sdk-client-mock';
import { EXIT, main } from '../../src/cli/main.js';
import { captureIo } from '../helpers/io.js';

const dir = mkdtempSync(join(tmpdir(), 'image-rewriter-cli-contract-'));
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});
const file = (name: string, text: string): string => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};
const GOOD = file('good.yaml', 'rules:\n  - {name: gcr, match: gcr.io, replace: asia.gcr.io}\n');

async function run(args: string[], env: Record<string, string> = {}): Promise<{ code: number; out: string; err: string }> {
  const io = captureIo(env, '');
  const code = await main(args, io);
  return { code, out: io.out(), err: io.err() };
}

describe('an option given twice', () => {
  it.each([
    [['webhook-config', '--url', 'https://a.example/mutate/t', '--url', 'https://b.example/mutate/t'], '--url'],
    [['explain', '--config', GOOD, '-c', GOOD, 'gcr.io/x'], '--config'],
    [['check-config', '--config', GOOD, '--config', GOOD], '--config'],
    [['invoke', '--config', GOOD, '--config', GOOD, 'events/rest-pod-v1.json'], '--config'],
    [['serve', '--listen', '127.0.0.1:0', '--listen', '127.0.0.1:1', '--tls-cert-file', 'c', '--tls-private-key-file', 'k', '--workers', '1'], '--listen'],
  ])('%j: usage error naming %s', async (args, flag) => {
    const r = await run(args);
    expect(r.code).toBe(EXIT.usage);
    expect(r.out).toBe('');
    expect(r.err).toContain(`error: ${flag} is given more than once`);
  });

  it('once each is fine', async () => {
    expect((await run(['explain', '--config', GOOD, 'gcr.io/x'])).out).toBe('{"image":"gcr.io/x","rewritten":"asia.gcr.io/x","rule":"gcr"}\n');
  });
});

describe('serve', () => {
  it('refuses --token-file with --allow-unauthenticated (which one is meant?)', async () => {
    const r = await run(['serve', '--listen', '127.0.0.1:0', '--tls-cert-file', 'c', '--tls-private-key-file', 'k', '--workers', '1', '--token-file', 't', '--allow-unauthenticated']);
    expect(r.code).toBe(EXIT.usage);
    expect(r.err).toContain('error: give --token-file or --allow-unauthenticated, not both');
  });
});

describe('help and version', () => {
  it.each([['render', '--help'], ['audit', '-h'], ['serve', '--help'], ['version', '--help'], ['version', '-h']])('%s %s prints the usage, exit 0', async (...args) => {
    const r = await run(args);
    expect(r.code).toBe(EXIT.ok);
    expect(r.out).toContain('image-rewriter render');
  });

  it('serve --help names every flag serve takes (--workers was missing)', async () => {
    const { out } = await run(['serve', '--help']);
    for (const flag of ['--config', '--listen', '--tls-cert-file', '--tls-private-key-file', '--token-file', '--allow-unauthenticated', '--max-body-bytes', '--workers']) expect(out).toContain(flag);
  });

  it('explain --help says what separates the images "-" reads: lines, spaces or tabs (README; tabs were left out)', async () => {
    const { out } = await run(['explain', '--help']);
    expect(out).toContain('separated by lines, spaces or tabs');
  });

  it.each([[['help', 'bogus']], [['help', 'render', 'audit']], [['version', 'extra']]])('%j is a usage error', async (args) => {
    expect((await run(args)).code).toBe(EXIT.usage);
  });

  it('-h after -- is an argument, not a request for help', async () => {
    const r = await run(['explain', '--config', GOOD, '--', '-h']);
    expect(r.code).toBe(EXIT.ok);
    expect(JSON.parse(r.out)).toMatchObject({ image: '-h' });
  });

  it('help COMMAND prints the usage', async () => {
    expect(await run(['help', 'render'])).toMatchObject({ code: EXIT.ok, out: expect.stringContaining('image-rewriter audit') });
  });
});

describe('render and audit: 1 says "something would change", so an error is 2', () => {
  // An error no command foresaw (here stdin that cannot be read) was exit 1: to `render --check` and
  // `audit` that says an image would change, about input that was never read.
  it.each([['render'], ['audit']])('%s: an unexpected error is exit 2, its message on stderr', async (command) => {
    const io = captureIo({}, '');
    const eio = Object.assign(new Error('EIO: i/o error, read'), { code: 'EIO' });
    const code = await main([command, '--config', GOOD, '-f', '-'], { ...io, readStdin: () => Promise.reject(eio) });
    expect({ code, out: io.out(), err: io.err() }).toEqual({ code: EXIT.invalidConfig, out: '', err: 'error: EIO: i/o error, read\n' });
  });

  // It said so of `render --check` alone, where render without --check exits 2 on such errors too.
  it('help says what 1 and 2 mean for them', async () => {
    expect((await run(['help'])).out.replace(/\s+/g, ' ')).toContain('render and audit: 2 on any other error but a usage error (64), and 1 when something would change (render with --check)');
  });
});

describe('check-config --strict', () => {
  it('fails on warnings without saying "ok" first', async () => {
    const r = await run(['check-config', '--strict', '--config', file('empty.yaml', 'rules: []\n')]);
    expect(r).toEqual({ code: EXIT.invalidConfig, out: '', err: expect.stringContaining('error: --strict: the warnings above count as errors\n') });
    expect(r.err).toContain('no rules: nothing will be rewritten');
  });
});

describe('rules-document messages', () => {
  it('say what is allowed', async () => {
    const doc = file('bad.yaml', 'rules:\n  - {name: a, match: gcr.io, replace: m.example.com/a, namespaces: []}\n  - {name: b, match: quay.io, replace: m.example.com/b, verify: true, onUnreachable: maybe}\n');
    const r = await run(['check-config', '--config', doc]);
    expect(r.code).toBe(EXIT.invalidConfig);
    expect(r.err).toContain('rules[0].namespaces: must not be an empty list (leave the field out instead)');
    expect(r.err).toContain('rules[1].onUnreachable: must be one of: keep, rewrite');
    expect(r.err).not.toContain('Invalid input');
  });

  it('a duplicate rule name beside a rule refused by the schema: every problem at once', async () => {
    const doc = file('dup.yaml', 'rules:\n  - {name: gcr, match: gcr.io, replace: asia.gcr.io}\n  - {name: gcr, match: 5, replace: asia.gcr.io}\n  - {name: gcr, match: quay.io, replace: asia.gcr.io}\n');
    const r = await run(['check-config', '--config', doc]);
    expect(r.code).toBe(EXIT.invalidConfig);
    expect(r.err.split('\n').filter((l) => l.startsWith('  '))).toEqual([
      '  rules[1].match: must be a string, not a number: put the value in quotes',
      '  rules[1].name: duplicate rule name "gcr" (first used by rules[0])',
      '  rules[2].name: duplicate rule name "gcr" (first used by rules[0])',
    ]);
  });

  it('a second YAML document', async () => {
    const r = await run(['check-config', '--config', file('two.yaml', 'rules:\n  - {name: a, match: gcr.io, replace: m.example.com/a}\n---\nrules: []\n')]);
    expect(r.code).toBe(EXIT.invalidConfig);
    expect(r.err).toContain('(line 3, column 1): a rules document is one YAML document: remove the second "---" and what follows, or merge the two');
  });

  it('a blank ${env:} variable counts as unset', async () => {
    const doc = file('env.yaml', 'rules:\n  - {name: a, match: gcr.io, replace: "${env:MIRROR}/gcr"}\n');
    const r = await run(['check-config', '--config', doc], { MIRROR: '   ' });
    expect(r.code).toBe(EXIT.invalidConfig);
    expect(r.err).toContain('rules[0].replace: environment variable MIRROR is not set (used as ${env:MIRROR})');
  });
});

describe('a rules parameter that cannot be read', () => {
  it('says why, with the AWS SDK\'s message', async () => {
    const ssm = mockClient(SSMClient);
    const denied = Object.assign(new Error('User: arn:aws:sts::123456789012:assumed-role/ci is not authorized to perform: ssm:GetParameter'), { name: 'AccessDeniedException' });
    ssm.on(GetParameterCommand).rejects(denied);
    try {
      const r = await run(['check-config'], { REWRITE_RULES_PARAMETER: '/image-rewriter/rules', AWS_REGION: 'us-west-2', AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test' });
      expect(r.code).toBe(EXIT.invalidConfig);
      expect(r.err).toContain(`error: rules parameter /image-rewriter/rules could not be read (AccessDeniedException): ${denied.message}\n`);
    } finally {
      ssm.restore();
    }
  });
});
