/**
 * template.yaml through SAM's own translator (hack/python/sam-translate.py, from the venv), for what
 * only the transform decides. API Gateway serves a REST API's resource policy as of its last
 * deployment, and SAM creates a new AWS::ApiGateway::Deployment only when the hash of the API's
 * OpenAPI body changes: a stack update whose policy changes without changing that hash leaves the
 * old policy in force.
 */
import { describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { REPO_ROOT } from '../helpers/fixtures.js';
import { venvPython } from './helpers/tools.js';

const SCRIPT = join(REPO_ROOT, 'hack', 'python', 'sam-translate.py');

interface Translated {
  readonly Resources: Record<string, { readonly Type: string; readonly Properties?: Record<string, unknown> }>;
}

function translate(...parameters: string[]): Translated {
  const r = spawnSync(venvPython(), [SCRIPT, join(REPO_ROOT, 'template.yaml'), ...parameters], { encoding: 'utf8', timeout: 120_000 });
  if (r.status !== 0) throw new Error(`sam-translate.py ${parameters.join(' ')}: ${r.stderr.trim()}`);
  return JSON.parse(r.stdout) as Translated;
}

/** The logical id of the API's Deployment (SAM suffixes it with the hash of the body). */
function deployment(t: Translated): string {
  const ids = Object.entries(t.Resources).filter(([, r]) => r.Type === 'AWS::ApiGateway::Deployment').map(([id]) => id);
  expect(ids).toHaveLength(1);
  return ids[0] ?? '';
}

describe('the API is redeployed whenever its resource policy changes', () => {
  // `sam deploy` keeps VpcEndpointIds when only EndpointType is given: PRIVATE -> REGIONAL must not
  // leave the deployed policy denying every caller outside the VPC endpoints (all 403, fail open),
  // and REGIONAL -> PRIVATE must not leave one without that Deny (any VPC endpoint may call).
  it('EndpointType REGIONAL and PRIVATE with the same VpcEndpointIds get different deployments', () => {
    const vpce = 'VpcEndpointIds=vpce-0123456789abcdef0';
    expect(deployment(translate('EndpointType=REGIONAL', vpce))).not.toBe(deployment(translate('EndpointType=PRIVATE', vpce)));
  });

  it('a different VpcEndpointIds gets a different deployment', () => {
    const one = translate('EndpointType=PRIVATE', 'VpcEndpointIds=vpce-0123456789abcdef0');
    const two = translate('EndpointType=PRIVATE', 'VpcEndpointIds=vpce-0123456789abcdef0,vpce-0fedcba9876543210');
    expect(deployment(one)).not.toBe(deployment(two));
  });
});

describe('KmsKeyArn is left to CloudFormation', () => {
  // SAM resolves no condition of ours: the key's grants and the token's KmsKeyId reach CloudFormation
  // as written, and the API is not redeployed for a change of key.
  it('translates the same with and without a key, keeping the KMS grants and KmsKeyId under HasKmsKey', () => {
    const without = translate();
    const withKey = translate('KmsKeyArn=arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab');
    expect(withKey).toEqual(without);
    expect(without.Resources['WebhookToken']?.Properties?.['KmsKeyId']).toEqual({ 'Fn::If': ['HasKmsKey', { Ref: 'KmsKeyArn' }, { Ref: 'AWS::NoValue' }] });
    for (const role of ['WebhookFunctionRole', 'WebhookTokenFunctionRole']) {
      const policies = JSON.stringify(without.Resources[role]?.Properties?.['Policies']);
      expect([role, policies]).toEqual([role, expect.stringContaining('{"Fn::If":["HasKmsKey",{"PolicyName":"kms-key"')]);
    }
  });
});

