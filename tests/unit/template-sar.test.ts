/**
 * `sam publish` accepts only the resource types on the Serverless Application Repository's list of
 * supported resources (the dated copy in docs/sar-supported-resources.txt, with its source). Every
 * type of template.yaml, and every type SAM generates from the serverless types it uses, must be
 * on it. scripts/test-template.sh checks the types of SAM's real translation as well.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { REPO_ROOT } from '../helpers/fixtures.js';
import { loadTemplate } from '../helpers/template.js';

const LIST = join(REPO_ROOT, 'docs', 'sar-supported-resources.txt');

/** The types of the list file: one per line, `#` comments. */
function supportedTypes(text: string): Set<string> {
  return new Set(
    text
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '' && !l.startsWith('#')),
  );
}

/** What SAM turns each serverless type this template uses into (its Events of type Api included). */
const GENERATED: Record<string, readonly string[]> = {
  'AWS::Serverless::Function': ['AWS::Lambda::Function', 'AWS::IAM::Role', 'AWS::Lambda::Permission'],
  'AWS::Serverless::Api': ['AWS::ApiGateway::RestApi', 'AWS::ApiGateway::Deployment', 'AWS::ApiGateway::Stage'],
};

const supported = supportedTypes(readFileSync(LIST, 'utf8'));
const declared = [...new Set(Object.values(loadTemplate().Resources).map((r) => r.Type))].sort();

describe('the Serverless Application Repository accepts the template', () => {
  it('the list copy is dated, names its source and reads as resource types', () => {
    const text = readFileSync(LIST, 'utf8');
    expect(text).toMatch(/^# Copied on \d{4}-\d{2}-\d{2} /m);
    expect(text).toContain('https://docs.aws.amazon.com/serverlessrepo/latest/devguide/list-supported-resources.html');
    expect(supported.size).toBeGreaterThan(100);
    for (const t of supported) expect(t).toMatch(/^AWS::[A-Za-z0-9]+::[A-Za-z0-9]+$/);
  });

  it('every resource type of template.yaml is on the list', () => {
    expect(declared.filter((t) => !supported.has(t))).toEqual([]);
  });

  it('every type SAM generates from them is on the list', () => {
    const generated = declared.flatMap((t) => GENERATED[t] ?? []);
    expect(generated.length).toBeGreaterThan(0);
    expect(generated.filter((t) => !supported.has(t))).toEqual([]);
  });

  it('would refuse the Secrets Manager secret the token used to live in (the check can fail)', () => {
    expect(supported.has('AWS::SecretsManager::Secret')).toBe(false);
    expect([...declared, 'AWS::SecretsManager::Secret'].filter((t) => !supported.has(t))).toEqual(['AWS::SecretsManager::Secret']);
  });
});
