/**
 * Rules documents through the built bundle, where each library is a chunk loaded only when a
 * document needs it (scripts/build.mjs): zod for a document the quick check refuses, regexpp for a
 * regex outside the subset the regex check parses itself, the YAML parser for YAML outside the
 * subset src/config/yaml-subset.ts reads without it. For each
 * document, dist/handler.js in a fresh node (its init, then one event) must log what the command
 * line's synchronous parse finds (src/config/load.ts, every library loaded): the same issues, or the
 * same rules loaded and the same answer. A chunk that failed to load would log "cannot be read".
 */
import { describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { formatIssue } from '../../src/config/issues.js';
import { parseRules } from '../../src/config/load.js';
import { fixedRules } from '../../src/config/sources.js';
import { createHandler } from '../../src/lambda/handler.js';
import { captureObservability, EVENT_TOKEN, loadEvent } from '../helpers/events.js';
import { jsonLines } from './helpers/processes.js';
import { distHandler, lambdaNode } from './helpers/tools.js';

const EVENT = 'rest-pod-v1.json';

/** A fresh node (the Lambda runtime's version) that imports the bundle (the init) and answers one event, as the Lambda runtime would. */
function runBundle(rules: string): { logs: Record<string, unknown>[]; answer: unknown } {
  const child = `const { handler } = await import(${JSON.stringify(pathToFileURL(distHandler()).href)});
const event = JSON.parse(process.argv[1]);
const result = await handler(event, { awsRequestId: 'r-1', functionName: 'image-rewriter', getRemainingTimeInMillis: () => 10000 });
process.stdout.write('ANSWER ' + JSON.stringify(result) + '\\n');`;
  const r = spawnSync(lambdaNode(), ['--input-type=module', '-e', child, JSON.stringify(loadEvent(EVENT))], {
    encoding: 'utf8',
    env: { PATH: process.env['PATH'], REWRITE_RULES: rules, WEBHOOK_TOKEN: EVENT_TOKEN, AWS_LAMBDA_FUNCTION_NAME: 'image-rewriter' },
  });
  const line = r.stdout.split('\n').find((l) => l.startsWith('ANSWER '));
  if (line === undefined) throw new Error(`no answer (exit ${String(r.status)}):\n${r.stdout}\n${r.stderr}`);
  // Every log line is JSON, whatever the context the handler was given (a partial one here).
  const logLines = `${r.stdout}\n${r.stderr}`.split('\n').filter((l) => l.startsWith('{'));
  for (const l of logLines) expect(() => JSON.parse(l) as unknown).not.toThrow();
  return { logs: jsonLines(logLines.join('\n')), answer: JSON.parse(line.slice('ANSWER '.length)) as unknown };
}

/** The in-process answer to the event with these (valid) rules. */
async function expectedAnswer(rules: string): Promise<unknown> {
  const parsed = parseRules(rules, {});
  if (!parsed.ok) throw new Error('expected valid rules');
  const obs = captureObservability();
  const handler = createHandler({ rules: fixedRules(parsed.rewriter, 'REWRITE_RULES'), token: EVENT_TOKEN, logger: obs.logger, metrics: obs.metrics });
  return handler(loadEvent(EVENT), { awsRequestId: 'r-1', functionName: 'image-rewriter', getRemainingTimeInMillis: () => 10000 } as never);
}

const rule = (fields: Record<string, unknown>): string => JSON.stringify({ rules: [{ name: 'r', replace: 'mirror.example.com/m', ...fields }] });

describe('rules documents through dist/handler.js and its chunks', () => {
  it.each([
    ['valid JSON, a prefix rule (no chunk)', rule({ match: 'gcr.io' })],
    ['valid JSON, a regex in the subset (the regex check chunk)', rule({ regex: 'quay\\.io/([^/]+)/(.+)', replace: 'mirror.example.com/$1/$2' })],
    ['valid JSON, a regex outside the subset (regexpp)', rule({ regex: 'quay\\.io/([a-z-0]+)/(.+)', replace: 'mirror.example.com/$1/$2' })],
    ['valid YAML in the subset read without the YAML parser (no chunk)', 'rules:\n  - name: gcr\n    match: gcr.io\n    replace: mirror.example.com/gcr\n'],
    ['valid YAML outside that subset (the YAML parser)', 'rules:\n  - name: gcr\n    match: "gcr\\x2eio"\n    replace: mirror.example.com/gcr\n'],
    ["valid YAML, the README's one line of flow style (no chunk)", 'rules: [{name: gcr, match: gcr.io, replace: mirror.example.com/gcr}]'],
  ])('%s: the same rules loaded and the same answer', async (_what, rules) => {
    const expected = parseRules(rules, {});
    expect(expected.ok).toBe(true);
    const { logs, answer } = runBundle(rules);
    expect(logs.find((l) => l['message'] === 'rules document is invalid')).toBeUndefined();
    expect(logs.find((l) => l['message'] === 'rules loaded')).toMatchObject({ ruleCount: expected.ok ? expected.rewriter.rules.length : -1 });
    expect(answer).toEqual(await expectedAnswer(rules));
  });

  it.each([
    ['an unknown field (zod names it)', rule({ match: 'gcr.io', namspaces: ['a'] })],
    ['a field of the wrong type and a bad prefix (zod)', JSON.stringify({ rules: [{ name: 'r', match: 'nginx', replace: 3 }] })],
    ['a backreference outside the subset (regexpp, then zod)', rule({ regex: '(a)\\1' })],
    ['a nested repetition in the subset (the regex check, then zod)', rule({ regex: '(a+)+' })],
    ['only the compile refuses it (no zod)', rule({ match: 'gcr.io', replace: '${env:UNSET}/x' })],
    ['YAML with a duplicate key', 'rules: []\nrules: []\n'],
  ])('%s: the same issues as the command line', (_what, rules) => {
    const expected = parseRules(rules, {});
    if (expected.ok) throw new Error('expected invalid rules');
    const { logs } = runBundle(rules);
    const invalid = logs.find((l) => l['message'] === 'rules document is invalid');
    expect(invalid?.['issues']).toEqual(expected.issues.map(formatIssue));
    expect(JSON.stringify(invalid)).not.toContain('cannot be read');
  });
});
