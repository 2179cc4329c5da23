/**
 * What `sam build && sam local invoke WebhookFunction -e events/NAME.json` does, without Docker:
 * SAM CLI's own `local invoke` command (hack/python/sam-local-env.py, from the venv) resolves the
 * function's environment exactly as it would for the container (samconfig.toml's local settings,
 * sam-local-env.json, the template's intrinsic functions) in a copy of the project whose
 * .aws-sam/build is the build of scripts/test-template.sh; then the artifact SAM would mount runs
 * under the Runtime Interface Emulator with exactly that environment, on every file of events/.
 * Each answer must equal the in-process handler's with the same rules and token. The routes of
 * `sam local start-api` (SAM's API provider) must cover every event of events/.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseRules } from '../../src/config/load.js';
import { fixedRules } from '../../src/config/sources.js';
import { createHandler, type WebhookHandler } from '../../src/lambda/handler.js';
import { captureObservability, EVENT_TOKEN, eventNames, type JsonObject, loadEvent } from '../helpers/events.js';
import { REPO_ROOT } from '../helpers/fixtures.js';
import { type RieFunction, startRie } from './helpers/rie.js';
import { samBuildDir, venvPython } from './helpers/tools.js';

interface Resolved {
  readonly event: string;
  readonly function: string;
  readonly handler: string;
  readonly codeDir: string;
  readonly env: Record<string, string>;
  readonly payload: JsonObject;
}

const SCRIPT = join(REPO_ROOT, 'hack', 'python', 'sam-local-env.py');

/**
 * A clean shell: SAM gives the function the shell's value of any variable the template declares
 * (NODE_OPTIONS of this jest run, for one), so only what a user's shell surely has is passed.
 */
function shellEnv(): Record<string, string> {
  const env: Record<string, string> = { SAM_CLI_TELEMETRY: '0' };
  for (const name of ['PATH', 'HOME', 'LANG', 'TMPDIR']) {
    const value = process.env[name];
    if (value !== undefined) env[name] = value;
  }
  return env;
}

function python(args: string[], cwd: string): string[] {
  const r = spawnSync(venvPython(), [SCRIPT, ...args], { cwd, encoding: 'utf8', env: shellEnv(), timeout: 300_000 });
  if (r.status !== 0) throw new Error(`sam-local-env.py ${args.join(' ')} failed (${String(r.status)}):\n${r.stderr}`);
  return r.stdout.split('\n').filter((l) => l.trim() !== '');
}

/** The project as a user has it after `sam build`: the repository's files, .aws-sam/build = the test build. */
function project(): string {
  const dir = mkdtempSync(join(tmpdir(), 'image-rewriter-sam-local-'));
  for (const f of ['template.yaml', 'samconfig.toml', 'sam-local-env.json', 'events']) cpSync(join(REPO_ROOT, f), join(dir, f), { recursive: true });
  mkdirSync(join(dir, '.aws-sam'));
  symlinkSync(samBuildDir(), join(dir, '.aws-sam', 'build'));
  return dir;
}

const answer = (value: unknown): { statusCode: unknown; body: unknown } => {
  const v = value as { statusCode?: unknown; body?: unknown };
  return { statusCode: v.statusCode, body: typeof v.body === 'string' ? (JSON.parse(v.body) as unknown) : v.body };
};

let dir = '';
let resolved: Resolved[] = [];
let fn: RieFunction | undefined;
let expected: WebhookHandler | undefined;

beforeAll(async () => {
  dir = project();
  resolved = python(['WebhookFunction', '--', ...eventNames().map((n) => `events/${n}`)], dir).map((l) => JSON.parse(l) as Resolved);
  const first = resolved[0];
  if (first === undefined) throw new Error('sam-local-env.py resolved nothing');
  const module = first.handler.replace(/\.[^.]+$/, '');
  fn = await startRie({ bundle: join(first.codeDir, `${module}.mjs`), env: first.env });
  const rules = parseRules(first.env['REWRITE_RULES'] ?? '', first.env);
  if (!rules.ok) throw new Error(`the rules SAM gives the function are invalid: ${JSON.stringify(rules.issues)}`);
  const obs = captureObservability();
  expected = createHandler({ rules: fixedRules(rules.rewriter, 'REWRITE_RULES'), token: first.env['WEBHOOK_TOKEN'], logger: obs.logger, metrics: obs.metrics });
});

afterAll(async () => {
  await fn?.stop();
  if (dir !== '') rmSync(dir, { recursive: true, force: true });
});

describe('sam local invoke WebhookFunction (SAM CLI resolves, RIE runs)', () => {
  it('gives the function the rules and token of sam-local-env.json and no AWS reads', () => {
    expect(resolved.map((r) => r.event)).toEqual(eventNames().map((n) => `events/${n}`));
    for (const r of resolved) {
      expect(r.function).toBe('WebhookFunction');
      expect(r.env['REWRITE_RULES']).toContain('match: gcr.io');
      expect(r.env['WEBHOOK_TOKEN']).toBe(EVENT_TOKEN);
      // Resolved locally, these would name logical ids (SAM does not create the resources).
      expect(r.env['REWRITE_RULES_PARAMETER']).toBe('');
      expect(r.env['WEBHOOK_TOKEN_PARAMETER']).toBe('');
      expect(r.env['AWS_URL_SUFFIX']).toBe('amazonaws.com');
      // Not in template.yaml: SAM's build appends it because the function builds a source map. The
      // bundle has no sourceMappingURL comment, so the flag loads nothing (sam-artifact.template.ts).
      expect(r.env['NODE_OPTIONS']?.trim()).toBe('--enable-source-maps');
      expect(r.env).toEqual(resolved[0]?.env);
    }
  });

  it('mounts the artifact sam build made (the handler file the template names)', () => {
    const first = resolved[0];
    expect(realpathSync(first?.codeDir ?? '')).toBe(realpathSync(join(samBuildDir(), 'WebhookFunction')));
    expect(first?.handler).toBe('main.handler');
    expect(existsSync(join(first?.codeDir ?? '', 'main.mjs'))).toBe(true);
  });

  it.each(eventNames())('%s: the artifact answers with exactly that environment as the in-process handler does', async (name) => {
    const r = resolved.find((x) => x.event === `events/${name}`);
    expect(r?.payload).toEqual(loadEvent(name));
    if (fn === undefined || expected === undefined) throw new Error('not started (see beforeAll)');
    const got = answer(await fn.result(loadEvent(name)));
    expect(got).toEqual(answer(await expected(loadEvent(name))));
    if (name === 'rest-pod-v1.json') {
      const patch = (got.body as { response?: { patch?: string } }).response?.patch ?? '';
      expect(Buffer.from(patch, 'base64').toString('utf8')).toContain('asia.gcr.io/google-samples/hello-app:2.0');
    }
  });
});

describe('sam local start-api', () => {
  it('serves a route for every event of events/, all to WebhookFunction', () => {
    const routes = python(['--routes', 'template.yaml'], dir).map((l) => JSON.parse(l) as { path: string; methods: string[]; function: string });
    for (const name of eventNames()) {
      const e = loadEvent(name);
      const route = routes.find((r) => r.path === e['resource'] && r.methods.includes(String(e['httpMethod'])));
      expect({ name, route: route?.function }).toEqual({ name, route: 'WebhookFunction' });
    }
  });
});
