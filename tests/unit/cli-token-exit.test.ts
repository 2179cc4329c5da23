/**
 * A webhook token that is configured but cannot be read (`WEBHOOK_TOKEN_PARAMETER` naming a
 * parameter the caller may not read) stops every command. Its exit code is 1 where 1 means failure,
 * but `render --check` and `audit` exit 1 to say that something would change: there it is 2, their
 * code for an error, so that a CI gate or a script does not take it for a finding.
 */
import { describe, expect, it, jest } from '@jest/globals';
import { join } from 'node:path';
import { captureIo } from '../helpers/io.js';
import { FIXTURES } from '../helpers/fixtures.js';

class AccessDeniedException extends Error {
  override readonly name = 'AccessDeniedException';
}
jest.unstable_mockModule('@aws-sdk/client-ssm', () => ({
  SSMClient: class {
    send(): Promise<never> {
      return Promise.reject(new AccessDeniedException('not authorized to perform ssm:GetParameter'));
    }
  },
  GetParameterCommand: class {
    constructor(readonly input: unknown) {}
  },
}));
const { EXIT, main } = await import('../../src/cli/main.js');

const RULES = join(FIXTURES, 'valid-demo.yaml');
const ENV = { WEBHOOK_TOKEN_PARAMETER: '/image-rewriter/token' };
const POD = 'apiVersion: v1\nkind: Pod\nmetadata: {name: web}\nspec:\n  containers: [{name: web, image: gcr.io/web:1}]\n';
const MESSAGE = 'error: cannot read the webhook token from SSM parameter /image-rewriter/token (AccessDeniedException): not authorized to perform ssm:GetParameter\n';

describe('a configured token that cannot be read', () => {
  it.each([
    ['render --check', ['render', '--check', '--config', RULES], POD],
    ['render', ['render', '--config', RULES], POD],
    ['audit -f -', ['audit', '--config', RULES, '-f', '-'], '{"kind": "List", "items": []}'],
  ])('%s: exit 2, not the 1 that says something would change', async (_, args, stdin) => {
    const io = captureIo(ENV, stdin);
    expect(await main(args, io)).toBe(EXIT.invalidConfig);
    expect(io.out()).toBe('');
    expect(io.err()).toBe(MESSAGE);
  });

  it.each([
    ['explain', ['explain', '--config', RULES, 'gcr.io/a']],
    ['check-config', ['check-config', '--config', RULES]],
  ])('%s: exit 1', async (_, args) => {
    const io = captureIo(ENV);
    expect(await main(args, io)).toBe(EXIT.failure);
    expect(io.err()).toBe(MESSAGE);
  });

  it('is what the usage says of the commands other than serve: they need no token, but read one that is configured', async () => {
    // The usage said "the other commands read none", while each of them stops on this token.
    const io = captureIo({});
    expect(await main(['help'], io)).toBe(EXIT.ok);
    const said = io.out().replace(/\s+/g, ' ');
    expect(said).toContain('the other commands need none, but read and check one that is configured, except webhook-config, which reads none');
    expect(said).not.toContain('read none');
  });
});
