/**
 * Adapter consistency: the same settings give the same outcome and the same message in every
 * adapter that reads them (src/config/settings.ts is the one reader). Each row is a set of
 * variables (plus, for serve, the flag forms); each adapter runs it:
 *
 * - lambda: src/lambda/main.ts imported afresh with the row in process.env, then the demo event;
 * - serve: `runServe` with the row as its environment, then the demo event over HTTPS;
 * - invoke: `image-rewriter invoke` on the demo event file;
 * - check-config: `image-rewriter check-config`;
 * - explain, render, audit: the demo image alone, the demo Pod as a manifest (`render -f`), and as
 *   `kubectl get -o json` prints it (`audit -f`).
 *
 * Decisions a row records: `invoke`, `check-config`, `explain`, `render` and `audit` answer no
 * network request, so they need no token (the README's first command runs with none); a configured
 * token is still checked.
 * `invoke` without any rules uses its built-in example rules. An invalid rules document stops the
 * command line (exit 2) but not the Lambda, which cannot exit: it starts and fails open.
 */
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestPki } from '../helpers/tls.js';

/** What the Lambda entry's logger writes to stdout and stderr (one text per write: src/observability/stdio-write.ts). */
const lambdaWritten: string[] = [];
jest.unstable_mockModule('../../src/observability/stdio-write.js', () => ({ descriptorWrite: () => (text: string) => void lambdaWritten.push(text), stdioWriteFor: () => undefined }));
// Imported after the mock: a module that loads the writer first would get the real one.
const { main } = await import('../../src/cli/main.js');
const { startServeCli } = await import('../helpers/serve-cli.js');
const { EVENT_TOKEN, EVENTS_DIR, loadEvent } = await import('../helpers/events.js');
const { captureIo } = await import('../helpers/io.js');
const { createTestPki, httpsRequest } = await import('../helpers/tls.js');

const sdkImported: string[] = [];
for (const name of ['@aws-sdk/client-ssm', '@aws-sdk/client-secrets-manager']) {
  jest.unstable_mockModule(name, () => {
    sdkImported.push(name);
    return {};
  });
}

type Env = Readonly<Record<string, string>>;
type AdapterName = 'lambda' | 'serve' | 'invoke' | 'check-config' | 'explain' | 'render' | 'audit';

/** What an adapter did with a row: started (and what the demo image became) or refused, and everything it printed. */
interface Outcome {
  readonly started: boolean;
  /** The demo event's first image after the answer; `(unchanged)` when not rewritten. */
  readonly image?: string;
  readonly text: string;
}

const DEMO = 'rest-pod-v1beta1-demo.json';
const RULES = 'rules:\n  - name: gcr\n    match: gcr.io\n    replace: asia.gcr.io\n';
const INVALID = 'rules:\n  - name: gcr\n    match: gcr.io\n    replace: ""\n';
const TAGGED = 'rules:\n  - name: gcr\n    match: gcr.io\n    replace: !Sub asia.gcr.io\n';
const VARIABLES = ['REWRITE_RULES', 'REWRITE_RULES_PARAMETER', 'REWRITE_RULES_TTL_SECONDS', 'WEBHOOK_TOKEN', 'WEBHOOK_TOKEN_PARAMETER', 'WEBHOOK_TOKEN_SECRET_ARN', 'WEBHOOK_ALLOW_UNAUTHENTICATED'];
const TOKEN_RULE = 'must be at least 16 characters of A-Z a-z 0-9 . _ ~ - (it is the last segment of the webhook URL)';
const NO_TOKEN = 'WEBHOOK_TOKEN: no webhook token: set WEBHOOK_TOKEN, WEBHOOK_TOKEN_PARAMETER or WEBHOOK_TOKEN_SECRET_ARN';
const NO_RULES = 'REWRITE_RULES: no rules: set REWRITE_RULES (inline YAML or JSON) or REWRITE_RULES_PARAMETER (an SSM parameter name)';

function imageOf(patch: unknown): string {
  const ops = Array.isArray(patch) ? (patch as { path: string; value: unknown }[]) : [];
  const op = ops.find((o) => o.path === '/spec/containers/0/image');
  return typeof op?.value === 'string' ? op.value : '(unchanged)';
}

function imageOfReview(body: string): string {
  const review = JSON.parse(body) as { response?: { patch?: string } };
  const patch = review.response?.patch;
  return imageOf(patch === undefined ? [] : JSON.parse(Buffer.from(patch, 'base64').toString('utf8')));
}

/** The demo event's first image, which RULES rewrite to asia.gcr.io/nginx:latest. */
const DEMO_IMAGE = 'gcr.io/nginx:latest';

let pki: TestPki;
/** The demo Pod as a manifest (render) and as `kubectl get -o json` prints it (audit). */
let manifestFile: string;
let listFile: string;
let manifests: string;
beforeAll(async () => {
  pki = await createTestPki('adapters-table-');
  manifests = await mkdtemp(join(tmpdir(), 'adapters-table-manifests-'));
  manifestFile = join(manifests, 'pod.yaml');
  await writeFile(manifestFile, `apiVersion: v1\nkind: Pod\nmetadata:\n  name: demo\n  namespace: admission-test\nspec:\n  containers:\n    - name: nginx\n      image: ${DEMO_IMAGE}\n`);
  listFile = join(manifests, 'pods.json');
  const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'demo', namespace: 'admission-test' }, spec: { containers: [{ name: 'nginx', image: DEMO_IMAGE }] }, status: { phase: 'Running' } };
  await writeFile(listFile, JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [pod] }));
});
afterAll(async () => {
  await pki.remove();
  await rm(manifests, { recursive: true, force: true });
});

/** The image an offline command printed for the demo image, `(unchanged)` when it is the same. */
const printedImage = (image: string | undefined): string => (image === undefined || image === DEMO_IMAGE ? '(unchanged)' : image);

/** `serve` with `env` as its environment and `flags` added to the listening flags. */
async function serveWith(env: Env, flags: readonly string[]): Promise<Outcome> {
  const io = captureIo(env);
  const serve = await startServeCli(['--listen', '127.0.0.1:0', '--tls-cert-file', pki.server.certFile, '--tls-private-key-file', pki.server.keyFile, ...flags], io);
  const first = serve.port;
  if (first === undefined) return { started: false, text: io.err() };
  const body = String(loadEvent(DEMO)['body']);
  const answer = await httpsRequest({ port: first, ca: pki.ca, method: 'POST', path: `/mutate/${EVENT_TOKEN}`, body, headers: { 'content-type': 'application/json' } });
  await serve.stop();
  return { started: true, image: answer.status === 200 ? imageOfReview(answer.body) : `status ${answer.status}`, text: io.err() };
}

const ADAPTERS: Readonly<Record<AdapterName, (env: Env) => Promise<Outcome>>> = {
  async lambda(env) {
    const saved = { ...process.env };
    for (const name of VARIABLES) Reflect.deleteProperty(process.env, name);
    Object.assign(process.env, { POWERTOOLS_LOG_LEVEL: 'INFO' }, env);
    lambdaWritten.length = 0;
    const written = lambdaWritten;
    try {
      jest.resetModules();
      const { handler } = await import('../../src/lambda/main.js');
      const result = await handler(loadEvent(DEMO));
      return { started: true, image: result.statusCode === 200 ? imageOfReview(result.body) : `status ${result.statusCode}`, text: written.join('') };
    } catch (e) {
      return { started: false, text: `${(e as Error).message}\n${written.join('')}` };
    } finally {
      process.env = saved;
    }
  },
  serve: (env) => serveWith(env, []),
  async invoke(env) {
    const io = captureIo(env);
    const code = await main(['invoke', join(EVENTS_DIR, DEMO)], io);
    if (code !== 0) return { started: false, text: io.err() };
    const printed = JSON.parse(io.out()) as { statusCode: number; decodedPatch?: unknown };
    return { started: true, image: printed.statusCode === 200 ? imageOf(printed.decodedPatch ?? []) : `status ${printed.statusCode}`, text: io.err() };
  },
  async 'check-config'(env) {
    const io = captureIo(env);
    const code = await main(['check-config'], io);
    return { started: code === 0, text: `${io.out()}${io.err()}` };
  },
  async explain(env) {
    const io = captureIo(env);
    const code = await main(['explain', DEMO_IMAGE], io);
    if (code !== 0) return { started: false, text: io.err() };
    return { started: true, image: printedImage((JSON.parse(io.out()) as { rewritten: string }).rewritten), text: io.err() };
  },
  async render(env) {
    const io = captureIo(env);
    const code = await main(['render', '-f', manifestFile], io);
    if (code !== 0) return { started: false, text: io.err() };
    return { started: true, image: printedImage(/image: (\S+)/.exec(io.out())?.[1]), text: io.err() };
  },
  async audit(env) {
    // Exit 1: something would change, 0: nothing would; anything else is a refusal.
    const io = captureIo(env);
    const code = await main(['audit', '-f', listFile, '-o', 'json'], io);
    if (code !== 0 && code !== 1) return { started: false, text: io.err() };
    const rewritten = code === 1 ? (JSON.parse(io.out()) as { rewritten: string }).rewritten : undefined;
    return { started: true, image: printedImage(rewritten), text: io.err() };
  },
};

const ALL: readonly AdapterName[] = ['lambda', 'serve', 'invoke', 'check-config', 'explain', 'render', 'audit'];
const LISTENERS: readonly AdapterName[] = ['lambda', 'serve'];
const OFFLINE: readonly AdapterName[] = ['invoke', 'check-config', 'explain', 'render', 'audit'];
/** The command line that applies rules read from the settings, invoke aside (it has built-in rules). */
const RULES_COMMANDS: readonly AdapterName[] = ['check-config', 'explain', 'render', 'audit'];

interface Row {
  readonly desc: string;
  readonly env: Env;
  readonly adapters: readonly AdapterName[];
  readonly started: boolean;
  /** The demo image after the answer (adapters that answer it: lambda, serve, invoke). */
  readonly image?: string;
  /** Text every adapter of the row prints (to stderr, in its logs, or in its init error). */
  readonly message?: string;
}

const WITH_TOKEN = { WEBHOOK_TOKEN: EVENT_TOKEN };
const ROWS: readonly Row[] = [
  { desc: 'inline rules and a token: rewrites', env: { REWRITE_RULES: RULES, ...WITH_TOKEN }, adapters: ALL, started: true, image: 'asia.gcr.io/nginx:latest' },
  { desc: 'rules: [] is valid and rewrites nothing', env: { REWRITE_RULES: 'rules: []\n', ...WITH_TOKEN }, adapters: ALL, started: true, image: '(unchanged)', message: 'no rules: nothing will be rewritten' },
  { desc: 'blank REWRITE_RULES is unset: no rules is refused', env: { REWRITE_RULES: '  \n', ...WITH_TOKEN }, adapters: ['lambda', 'serve', ...RULES_COMMANDS], started: false, message: NO_RULES },
  { desc: 'blank REWRITE_RULES is unset: invoke uses its built-in example rules', env: { REWRITE_RULES: '  \n', ...WITH_TOKEN }, adapters: ['invoke'], started: true, image: 'asia.gcr.io/nginx:latest' },
  {
    desc: 'both rules variables are refused',
    env: { REWRITE_RULES: RULES, REWRITE_RULES_PARAMETER: '/rules', ...WITH_TOKEN },
    adapters: ALL,
    started: false,
    message: 'REWRITE_RULES: set only one of REWRITE_RULES and REWRITE_RULES_PARAMETER',
  },
  {
    desc: 'a bad TTL is refused',
    env: { REWRITE_RULES: RULES, REWRITE_RULES_TTL_SECONDS: '60s', ...WITH_TOKEN },
    adapters: ALL,
    started: false,
    message: 'REWRITE_RULES_TTL_SECONDS: must be a whole number of seconds from 1 to 86400',
  },
  { desc: 'a token that is too short is refused', env: { REWRITE_RULES: RULES, WEBHOOK_TOKEN: 'abc' }, adapters: ALL, started: false, message: `WEBHOOK_TOKEN: ${TOKEN_RULE}` },
  { desc: 'a token with characters a URL cannot carry is refused', env: { REWRITE_RULES: RULES, WEBHOOK_TOKEN: 'has/a/slash/0123456789' }, adapters: ALL, started: false, message: `WEBHOOK_TOKEN: ${TOKEN_RULE}` },
  { desc: 'a blank token is unset: refused without the opt-in where requests come in', env: { REWRITE_RULES: RULES, WEBHOOK_TOKEN: ' ' }, adapters: LISTENERS, started: false, message: NO_TOKEN },
  { desc: 'no token, no opt-in: refused where requests come in', env: { REWRITE_RULES: RULES }, adapters: LISTENERS, started: false, message: NO_TOKEN },
  { desc: 'no token, no opt-in: fine offline', env: { REWRITE_RULES: RULES }, adapters: OFFLINE, started: true, image: 'asia.gcr.io/nginx:latest' },
  { desc: 'no token with the opt-in: unauthenticated everywhere', env: { REWRITE_RULES: RULES, WEBHOOK_ALLOW_UNAUTHENTICATED: 'true' }, adapters: ALL, started: true, image: 'asia.gcr.io/nginx:latest' },
  {
    desc: 'an opt-in that is not true or false is refused',
    env: { REWRITE_RULES: RULES, WEBHOOK_ALLOW_UNAUTHENTICATED: 'yes' },
    adapters: ALL,
    started: false,
    message: 'WEBHOOK_ALLOW_UNAUTHENTICATED: must be true or false',
  },
  { desc: 'an invalid rules document stops the command line', env: { REWRITE_RULES: INVALID, ...WITH_TOKEN }, adapters: ['serve', 'invoke', ...RULES_COMMANDS], started: false, message: 'rules[0].replace: must not be empty' },
  { desc: 'an invalid rules document: the Lambda starts and fails open', env: { REWRITE_RULES: INVALID, ...WITH_TOKEN }, adapters: ['lambda'], started: true, image: '(unchanged)', message: 'rules[0].replace: must not be empty' },
  { desc: 'an unknown YAML tag is an error', env: { REWRITE_RULES: TAGGED, ...WITH_TOKEN }, adapters: ['serve', 'invoke', ...RULES_COMMANDS], started: false, message: 'Unresolved tag: !Sub (rules documents use no YAML tags)' },
];

const CASES = ROWS.flatMap((row) => row.adapters.map((adapter) => ({ ...row, adapter, name: `${adapter}: ${row.desc}` })));

describe('every adapter reads the settings the same way', () => {
  it.each(CASES)('$name', async ({ adapter, env, started, image, message }) => {
    const outcome = await ADAPTERS[adapter](env);
    expect({ started: outcome.started, text: outcome.text }).toEqual({ started, text: expect.any(String) });
    if (message !== undefined) expect(outcome.text).toContain(message);
    if (image !== undefined && adapter !== 'check-config') expect(outcome.image).toBe(image);
    // Never the token itself, whatever happened.
    if (env['WEBHOOK_TOKEN'] !== undefined && env['WEBHOOK_TOKEN'].trim().length > 3) expect(outcome.text).not.toContain(`"${env['WEBHOOK_TOKEN']}"`);
  });

  it('serve: the flag forms mean what the variables mean', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'adapters-table-'));
    try {
      expect(await serveWith({ REWRITE_RULES: RULES }, ['--allow-unauthenticated'])).toMatchObject({ started: true, image: 'asia.gcr.io/nginx:latest' });
      await writeFile(join(dir, 'short'), 'abc\n');
      const short = await serveWith({ REWRITE_RULES: RULES }, ['--token-file', join(dir, 'short')]);
      expect(short).toMatchObject({ started: false, text: expect.stringContaining(`the webhook token in --token-file ${join(dir, 'short')} ${TOKEN_RULE}`) });
      await writeFile(join(dir, 'rules.yaml'), 'rules: []\n');
      const file = await serveWith(WITH_TOKEN, ['--config', join(dir, 'rules.yaml')]);
      expect(file).toMatchObject({ started: true, image: '(unchanged)', text: expect.stringContaining('no rules: nothing will be rewritten') });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('never loads the AWS SDK for inline settings', () => {
    expect(sdkImported).toEqual([]);
  });
});
