/**
 * File and socket errors in words (src/config/system-error.ts): Node's words with the code
 * (`no such file or directory (ENOENT)`), never the bare code, in every adapter that names one.
 * The messages printed only the code before; each test below failed on that.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runInNewContext } from 'node:vm';
import { EXIT, main } from '../../src/cli/main.js';
import { ssmRules } from '../../src/config/sources.js';
import { becauseOf, describeSystemError, errorName, systemErrorWords } from '../../src/config/system-error.js';
import { createCredentialsSource } from '../../src/verify/credentials.js';
import { captureObservability, EVENTS_DIR } from '../helpers/events.js';
import { FIXTURES } from '../helpers/fixtures.js';
import { captureIo } from '../helpers/io.js';

const ENOENT = 'no such file or directory (ENOENT)';
const EISDIR = 'illegal operation on a directory (EISDIR)';
const socketError = (code: string): Error => Object.assign(new Error(`connect ${code} 127.0.0.1:1`), { code });

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'system-error-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('describeSystemError', () => {
  it('puts Node\'s words before the code of a real file error (found by its errno)', async () => {
    const e = await readFile(join(dir, 'none')).catch((error: unknown) => error);
    expect(describeSystemError(e)).toBe(ENOENT);
    expect(describeSystemError(await readFile(dir).catch((error: unknown) => error))).toBe(EISDIR);
  });

  it.each([
    { what: 'a code without errno (found by its name)', error: socketError('EADDRINUSE'), text: 'address already in use (EADDRINUSE)' },
    { what: 'an errno that is not the code\'s (the code wins)', error: Object.assign(new Error('x'), { code: 'EACCES', errno: -2 }), text: 'permission denied (EACCES)' },
    { what: 'an error of another realm', error: Object.assign(runInNewContext('new Error("x")') as Error, { code: 'ENOTDIR' }), text: 'not a directory (ENOTDIR)' },
    { what: 'a code Node has no words for: the bare code', error: Object.assign(new Error('bad'), { code: 'ERR_SOMETHING' }), text: 'ERR_SOMETHING' },
    { what: 'no code: the message', error: new Error('larger than 10 bytes'), text: 'larger than 10 bytes' },
    { what: 'an empty code: the message', error: Object.assign(new Error('odd'), { code: '' }), text: 'odd' },
    { what: 'not an Error', error: 'socket hang up', text: 'socket hang up' },
    { what: 'null', error: null, text: 'null' },
  ])('$what', ({ error, text }) => {
    expect(describeSystemError(error)).toBe(text);
  });
});

describe('becauseOf and systemErrorWords', () => {
  it.each([
    ['ECONNREFUSED', ': connection refused (ECONNREFUSED)'],
    ['ECONNRESET', ': connection reset by peer (ECONNRESET)'],
    ['AccessDeniedException', ' (AccessDeniedException)'],
    ['ENOTFOUND', ' (ENOTFOUND)'],
    ['Error', ' (Error)'],
  ])('%s', (code, end) => {
    expect(becauseOf(code)).toBe(end);
  });

  it('has no words for what is not a system error code', () => {
    expect(systemErrorWords('ENOENT')).toBe('no such file or directory');
    expect(systemErrorWords('ENOENT', -2)).toBe('no such file or directory');
    expect(systemErrorWords('constructor')).toBeUndefined();
  });

  it('names an SDK error by its name, a socket error by its code', () => {
    expect(errorName(socketError('ECONNREFUSED'))).toBe('ECONNREFUSED');
    expect(errorName(Object.assign(new Error('x'), { name: 'ThrottlingException', code: 'ECONNREFUSED' }))).toBe('ThrottlingException');
    expect(errorName(Object.assign(new Error('x'), { code: 'not a code' }))).toBe('Error');
    expect(errorName('x')).toBe('Error');
  });
});

describe('the CLI commands say it in words', () => {
  const missing = (): string => join(dir, 'missing.yaml');
  const pod = join(FIXTURES, 'valid-demo.yaml');
  const event = join(EVENTS_DIR, 'rest-pod-v1.json');

  // The same rules document error, word for word, from every command that reads one.
  it.each([
    ['explain', (): string[] => ['explain', '--config', missing(), 'gcr.io/a']],
    ['check-config', (): string[] => ['check-config', '--config', missing()]],
    ['render', (): string[] => ['render', '--config', missing(), '-f', pod]],
    ['audit', (): string[] => ['audit', '--config', missing(), '-f', '-']],
    ['invoke', (): string[] => ['invoke', '-q', '--config', missing(), event]],
  ])('%s: a rules document that is not there', async (_command, args) => {
    const io = captureIo({}, '{"kind":"List","items":[]}');
    expect(await main(args(), io)).toBe(EXIT.invalidConfig);
    expect(io.err()).toBe(`error: cannot read rules document ${missing()}: ${ENOENT}\n`);
  });

  it('explain: a rules document that is a directory', async () => {
    const io = captureIo({});
    expect(await main(['explain', '--config', dir, 'gcr.io/a'], io)).toBe(EXIT.invalidConfig);
    expect(io.err()).toBe(`error: cannot read rules document ${dir}: ${EISDIR}\n`);
  });

  it.each([
    ['render', (): string[] => ['render', '--config', pod, '-f', missing()], EXIT.invalidConfig],
    ['audit', (): string[] => ['audit', '--config', pod, '-f', missing()], EXIT.invalidConfig],
  ])('%s: manifests that are not there', async (_command, args, exit) => {
    const io = captureIo({});
    expect(await main(args(), io)).toBe(exit);
    expect(io.err()).toBe(`error: cannot read ${missing()}: ${ENOENT}\n`);
  });

  it('invoke: an event file that is not there', async () => {
    const io = captureIo({});
    expect(await main(['invoke', '-q', '--config', pod, missing()], io)).toBe(EXIT.failure);
    expect(io.err()).toBe(`error: cannot read event ${missing()}: ${ENOENT}\n`);
  });

  it.each([
    ['--ca-bundle', EXIT.failure],
    ['--config', EXIT.invalidConfig],
  ])('webhook-config: %s names a file that is not there', async (flag, exit) => {
    const io = captureIo({});
    expect(await main(['webhook-config', '--url', 'https://a.example/mutate/0123456789abcdef', flag, missing()], io)).toBe(exit);
    expect(io.err()).toBe(`error: cannot read ${flag} ${missing()}: ${ENOENT}\n`);
  });
});

describe('a socket error of the AWS SDK, in the reason kubectl users see', () => {
  const ssm = mockClient(SSMClient);
  beforeEach(() => {
    ssm.reset();
  });

  it('the rules parameter', async () => {
    ssm.on(GetParameterCommand).rejects(socketError('ECONNREFUSED'));
    const provider = ssmRules({ client: new SSMClient({ region: 'us-west-2' }), name: '/r', ttlSeconds: 60, now: () => 0, env: {}, ...captureObservability() });
    expect(await provider.current()).toEqual({ ok: false, reason: 'rules parameter /r could not be read: connection refused (ECONNREFUSED)' });
  });

  it('the registry credentials (it said "(Error)")', async () => {
    ssm.on(GetParameterCommand).rejects(socketError('ECONNREFUSED'));
    const deps = { ssm: () => Promise.resolve(new SSMClient({ region: 'us-west-2' })), secretsManager: () => Promise.reject(new Error('unused')), now: () => 0 };
    const source = createCredentialsSource({ kind: 'ssm', name: '/c' }, deps);
    expect(await source('r.example.com', new AbortController().signal)).toEqual({ credentials: undefined, unavailable: 'cannot read SSM parameter /c: connection refused (ECONNREFUSED)' });
  });
});
