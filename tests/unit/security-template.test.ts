/**
 * Security review of template.yaml, parsed with the `yaml` package and CloudFormation's short-form
 * tags (`!Ref`, `!Sub`, `!If`...) read into their JSON forms: the function's own policies grant only
 * secretsmanager:GetSecretValue on this stack's token secret and ssm:GetParameter on the one rules
 * parameter (no wildcard action or resource), the stage is throttled, the token is a NoEcho
 * parameter kept out of the outputs, and the only route is POST /mutate/{token}.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { parse, type ScalarTag, type CollectionTag } from 'yaml';
import { REVIEW_LOG_MESSAGE } from '../../src/observability/telemetry.js';
import { REPO_ROOT } from '../helpers/fixtures.js';

type Json = null | boolean | number | string | Json[] | JsonObject;
interface JsonObject {
  [k: string]: Json;
}

const FUNCTIONS = ['Ref', 'Condition', 'Sub', 'If', 'Not', 'Equals', 'And', 'Or', 'GetAtt', 'Join', 'Select', 'Split', 'FindInMap', 'Base64', 'GetAZs', 'ImportValue', 'Cidr'];
const key = (f: string): string => (f === 'Ref' || f === 'Condition' ? f : `Fn::${f}`);
const TAGS: (ScalarTag | CollectionTag)[] = FUNCTIONS.flatMap((f) => [
  { tag: `!${f}`, resolve: (s: string) => ({ [key(f)]: s }) } satisfies ScalarTag,
  { tag: `!${f}`, collection: 'seq', resolve: (value) => ({ [key(f)]: value.toJSON() as Json }) } satisfies CollectionTag,
]);

const template = parse(readFileSync(join(REPO_ROOT, 'template.yaml'), 'utf8'), { customTags: TAGS }) as Record<string, Json>;
const resources = template['Resources'] as Record<string, { Type: string; Properties: Record<string, Json> }>;
const fn = Object.entries(resources).filter(([, r]) => r.Type === 'AWS::Serverless::Function' || r.Type === 'AWS::Lambda::Function');
const NONE: { Type: string; Properties: Record<string, Json> } = { Type: '', Properties: {} };

/** Every statement of a policy list, through `Fn::If` branches (AWS::NoValue dropped). */
function statements(policies: Json): Record<string, Json>[] {
  const out: Record<string, Json>[] = [];
  const visit = (p: Json): void => {
    if (p === null || typeof p !== 'object') {
      if (typeof p === 'string') out.push({ ManagedPolicy: p });
      return;
    }
    if (Array.isArray(p)) {
      p.forEach(visit);
      return;
    }
    if ('Fn::If' in p) {
      const branches = p['Fn::If'];
      if (Array.isArray(branches)) branches.slice(1).forEach(visit);
      return;
    }
    if ('Ref' in p && p['Ref'] === 'AWS::NoValue') return;
    if ('Statement' in p) {
      const s = p['Statement'];
      for (const st of Array.isArray(s) ? s : [s]) if (st !== null && typeof st === 'object' && !Array.isArray(st)) out.push(st);
      return;
    }
    out.push({ SamPolicyTemplate: p });
  };
  visit(policies);
  return out;
}

const list = (v: Json | undefined): Json[] => (Array.isArray(v) ? v : v === undefined ? [] : [v]);

describe('template.yaml: least privilege', () => {
  it('has exactly one function', () => {
    expect(fn.map(([name]) => name)).toEqual(['WebhookFunction']);
  });

  const [, webhook] = fn[0] ?? ['', NONE];
  const all = statements(webhook.Properties['Policies'] ?? []);

  it('grants only GetSecretValue on the token secret and GetParameter on the rules parameter', () => {
    const grants = all.map((s) => ({ effect: s['Effect'], actions: list(s['Action']), resources: list(s['Resource']) }));
    expect(grants).toEqual([
      { effect: 'Allow', actions: ['secretsmanager:GetSecretValue'], resources: [{ Ref: 'WebhookTokenSecret' }] },
      {
        effect: 'Allow',
        actions: ['ssm:GetParameter'],
        resources: [{ 'Fn::Sub': 'arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter${RewriteRulesParameterName}' }],
      },
    ]);
  });

  it('has no wildcard, no NotAction/NotResource, no managed or SAM policy templates', () => {
    for (const s of all) {
      expect(Object.keys(s).sort()).toEqual(['Action', 'Effect', 'Resource']);
      expect(JSON.stringify(s['Action'])).not.toContain('*');
      expect(JSON.stringify(s['Resource'])).not.toMatch(/"\*"|:\*"|\/\*"/);
    }
    expect(webhook.Properties).not.toHaveProperty('Role');
    expect(webhook.Properties).not.toHaveProperty('ManagedPolicyArns');
  });

  it('grants the parameter only when the rules come from one, and names the parameter the function reads', () => {
    const conditional = list(webhook.Properties['Policies']).find((p) => p !== null && typeof p === 'object' && !Array.isArray(p) && 'Fn::If' in p) as { 'Fn::If': Json[] } | undefined;
    expect(conditional?.['Fn::If'][0]).toBe('RulesFromParameter');
    const env = (webhook.Properties['Environment'] as { Variables: Record<string, Json> }).Variables;
    expect(env['REWRITE_RULES_PARAMETER']).toEqual({ 'Fn::If': ['RulesFromParameter', { Ref: 'RewriteRulesParameterName' }, { Ref: 'AWS::NoValue' }] });
    expect(env['WEBHOOK_TOKEN_SECRET_ARN']).toEqual({ Ref: 'WebhookTokenSecret' });
    expect(env).not.toHaveProperty('WEBHOOK_TOKEN');
  });
});

describe('template.yaml: the endpoint', () => {
  const api = resources['WebhookApi'];

  it('throttles every method of the stage (rate and burst from parameters with sane defaults)', () => {
    const settings = list(api?.Properties['MethodSettings']) as Record<string, Json>[];
    expect(settings).toContainEqual(expect.objectContaining({ ResourcePath: '/*', HttpMethod: '*', ThrottlingRateLimit: { Ref: 'ThrottlingRateLimit' }, ThrottlingBurstLimit: { Ref: 'ThrottlingBurstLimit' } }));
    const params = template['Parameters'] as Record<string, Record<string, Json>>;
    for (const p of ['ThrottlingRateLimit', 'ThrottlingBurstLimit']) {
      expect(params[p]?.['Type']).toBe('Number');
      expect(Number(params[p]?.['Default'])).toBeGreaterThan(0);
      expect(Number(params[p]?.['Default'])).toBeLessThanOrEqual(1000);
      expect(Number(params[p]?.['MinValue'])).toBeGreaterThanOrEqual(1);
    }
  });

  it('routes only POST /mutate/{token} to the function', () => {
    const [, webhook] = fn[0] ?? ['', NONE];
    const events = Object.values(webhook.Properties['Events'] as Record<string, { Type: string; Properties: Record<string, Json> }>);
    expect(events.map((e) => [e.Type, e.Properties['Path'], e.Properties['Method']])).toEqual([['Api', '/mutate/{token}', 'post']]);
    expect(api?.Properties).not.toHaveProperty('Cors');
  });

  it('keeps the token secret: NoEcho, URL-safe and long, generated when empty, never in an output', () => {
    const params = template['Parameters'] as Record<string, Record<string, Json>>;
    expect(params['WebhookToken']).toMatchObject({ Type: 'String', NoEcho: true });
    expect(params['WebhookToken']?.['AllowedPattern']).toBe('^$|^[A-Za-z0-9_\\-]{32,128}$');
    const secret = resources['WebhookTokenSecret']?.Properties;
    expect(JSON.stringify(secret?.['GenerateSecretString'])).toContain('"PasswordLength":48');
    const outputs = JSON.stringify(template['Outputs']);
    expect(outputs).not.toContain('"Ref":"WebhookToken"');
    expect(outputs).not.toMatch(/\$\{WebhookToken\}/);
  });
});

describe('per-rule metrics', () => {
  // What they count is tested against the emitted lines in metric-filter.test.ts.
  it.each([1, 2, 3])('metric filter %i counts its slot of the review lines by rule, in the function log group', (i) => {
    const filter = resources[`RewritesByRule${String(i)}MetricFilter`] ?? NONE;
    expect(filter.Type).toBe('AWS::Logs::MetricFilter');
    expect(filter.Properties['LogGroupName']).toEqual({ Ref: 'WebhookFunctionLogGroup' });
    expect(filter.Properties['FilterPattern']).toBe(`{ $.message = "${REVIEW_LOG_MESSAGE}" && $.rule${String(i)} = "*" && $.rule${String(i)}Rewrites > 0 }`);
    expect(filter.Properties['MetricTransformations']).toEqual([
      { MetricNamespace: 'ImageRewriter', MetricName: 'Rewrites', MetricValue: `$.rule${String(i)}Rewrites`, Unit: 'Count', Dimensions: [{ Key: 'Rule', Value: `$.rule${String(i)}` }] },
    ]);
  });
});
