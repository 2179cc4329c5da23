/**
 * The Lambda entry with an environment it cannot use: the import (the init) fails with every
 * problem listed, after a CRITICAL log line, so Lambda reports an init error and retries the init.
 */
import { afterAll, describe, expect, it, jest } from '@jest/globals';
import type { SourceError as SourceErrorType } from '../../src/config/sources.js';

const saved = { ...process.env };
// What the entry's logger writes to stdout and stderr (one text per write: src/observability/stdio-write.ts).
const written: string[] = [];
jest.unstable_mockModule('../../src/observability/stdio-write.js', () => ({ descriptorWrite: () => (text: string) => void written.push(text), stdioWriteFor: () => undefined }));
// Imported after the mock: a module that loads the writer first would get the real one.
const { SourceError } = await import('../../src/config/sources.js');

afterAll(() => {
  jest.restoreAllMocks();
  process.env = saved;
});

describe('src/lambda/main.ts with a bad environment', () => {
  it('fails its init with a SourceError and logs why', async () => {
    delete process.env['REWRITE_RULES'];
    delete process.env['REWRITE_RULES_PARAMETER'];
    process.env['WEBHOOK_TOKEN'] = 'short';
    process.env['POWERTOOLS_LOG_LEVEL'] = 'INFO';
    const error = await import('../../src/lambda/main.js').then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).name).toBe(SourceError.name);
    expect((error as SourceErrorType).issues.map((i) => i.path)).toEqual([['REWRITE_RULES'], ['WEBHOOK_TOKEN']]);
    const critical = written
      .join('')
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((l) => l['level'] === 'CRITICAL');
    expect(critical).toMatchObject({ message: 'cannot start: fix the function configuration', error: { name: 'SourceError' } });
    // One EMF document counting the failed init as a ConfigError, without an Outcome (ConfigErrorAlarm's `init` series).
    const emf = written
      .join('')
      .split('\n')
      .filter((l) => l.startsWith('{"_aws"'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(emf).toEqual([expect.objectContaining({ service: expect.any(String), ConfigErrors: 1 })]);
    expect(emf[0]).not.toHaveProperty('Outcome');
    expect(written.join('')).not.toContain('"short"');
  });
});
