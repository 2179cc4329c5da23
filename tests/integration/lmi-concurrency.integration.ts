/**
 * dist/handler.js as Lambda Managed Instances run it (README, "Lambda Managed Instances"): one
 * process of the Lambda's Node.js, several worker threads each with its own init, each running many
 * invocations at once (./helpers/lmi-harness.mjs), with AWS_LAMBDA_MAX_CONCURRENCY set as the
 * runtime sets it. The rules come from an SSM parameter in moto (1 s TTL) whose reads are held
 * 300 ms by a proxy, and change to a second version during the run: invocations start while others
 * wait for a refresh. A third of them have an image checked by a `verify` rule against a registry
 * stub on 127.0.0.1 that answers after 20 to 150 ms. stdout, a pipe, is read in small bites with
 * pauses, as a busy log agent would (TRICKLE). Checked: every answer is its own request's; every line is
 * JSON, none lost or twice; each review line carries its own request id, trace id, namespace and
 * only its own rewrites, and the rules version its answer used; one EMF document per invocation,
 * whose counts add up; each thread reads the parameter for itself.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { PutParameterCommand } from '@aws-sdk/client-ssm';
import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:https';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from '../helpers/fixtures.js';
import { createTestPki, type TestPki } from '../helpers/tls.js';
import { EVENT_TOKEN } from '../helpers/events.js';
import { awsEnvFor, type Moto, startMoto } from './helpers/moto.js';
import { eventually } from './helpers/processes.js';
import { type SsmProxy, startSsmProxy } from './helpers/ssm-proxy.js';
import { lambdaNode, venvPython } from './helpers/tools.js';

const PARAMETER = '/image-rewriter/lmi-rules';
const THREADS = 3;
const PER_ROUND = 24;
const ROUNDS = 6;
const GAP_MS = 400;
const TOTAL = THREADS * PER_ROUND * ROUNDS;

const rules = (gcrTo: string, registry: string): string =>
  `rules:\n  - name: gcr\n    match: gcr.io\n    replace: ${gcrTo}\n  - name: quay\n    match: quay.io\n    replace: ${registry}/quay\n    verify: true\n`;

let moto: Moto | undefined;
let proxy: SsmProxy | undefined;
let pki: TestPki | undefined;
let registry: Server | undefined;
let registryHost = '';
let asked = 0;
const scratch = mkdtempSync(join(tmpdir(), 'image-rewriter-lmi-'));

beforeAll(async () => {
  moto = await startMoto();
  proxy = await startSsmProxy(moto.url);
  pki = await createTestPki();
  // Answers every manifest HEAD "present", after 20 to 150 ms.
  registry = createServer({ cert: pki.server.cert, key: pki.server.key }, (req, res) => {
    if (req.method === 'HEAD' && /^\/v2\/quay\/team-[^/]+\/side\/manifests\/1$/.test(req.url ?? '')) {
      asked++;
      setTimeout(() => {
        res.writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json', 'docker-content-digest': `sha256:${'a'.repeat(64)}`, 'content-length': '512' }).end();
      }, 20 + Math.floor(Math.random() * 130));
      return;
    }
    res.writeHead(404, { 'content-type': 'application/json' }).end('{"errors":[{"code":"NAME_UNKNOWN"}]}');
  });
  await new Promise<void>((resolve) => registry?.listen(0, '127.0.0.1', resolve));
  const address = registry.address();
  registryHost = `127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`;
});

afterAll(async () => {
  await new Promise((resolve) => registry?.close(resolve));
  await proxy?.close();
  await moto?.stop();
  await pki?.remove();
  rmSync(scratch, { recursive: true, force: true });
});

type Line = Record<string, unknown>;

interface Result {
  readonly id: string;
  readonly thread: number;
  readonly status: number;
  readonly uid: string;
  readonly allowed: boolean;
  readonly images: Readonly<Record<string, string>>;
  readonly containers: number;
}

/**
 * A log agent that keeps the pipe nearly full: it reads 3000 bytes at a time, 2 ms apart, and
 * passes them on. A write then often finds room for only part of a text (a partial write), the case
 * where threads writing directly to descriptor 1 cut lines into each other.
 */
const TRICKLE = 'import os, time\nwhile True:\n    b = os.read(0, 3000)\n    if not b: break\n    while b: b = b[os.write(1, b):]\n    time.sleep(0.002)\n';

/** Runs the harness, its stdout through TRICKLE; `seen`: what came through so far. */
function runHarness(env: Record<string, string>): { seen: () => string; done: Promise<{ code: number | null; stdout: string; stderr: string }> } {
  const script = 'set -o pipefail; "$LMI_NODE" "$LMI_SCRIPT" | "$LMI_PYTHON" -c "$LMI_TRICKLE"';
  const harness = { LMI_NODE: lambdaNode(), LMI_SCRIPT: join(REPO_ROOT, 'tests/integration/helpers/lmi-harness.mjs'), LMI_PYTHON: venvPython(), LMI_TRICKLE: TRICKLE };
  const child = spawn('bash', ['-c', script], { env: { ...env, ...harness }, stdio: ['ignore', 'pipe', 'pipe'] });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
  child.stderr.on('data', (chunk: Buffer) => err.push(chunk));
  const done = new Promise<number | null>((resolve) => child.on('close', resolve)).then((code) => ({ code, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') }));
  return { seen: () => Buffer.concat(out).toString('utf8'), done };
}

describe('dist/handler.js on Lambda Managed Instances: worker threads, each running many invocations at once', () => {
  it('keeps every answer, log line and metrics document to its own invocation, through refreshes of the rules and existence checks', async () => {
    const ssm = moto?.ssm;
    if (ssm === undefined || proxy === undefined || pki === undefined) throw new Error('set-up failed (see beforeAll)');
    await ssm.send(new PutParameterCommand({ Name: PARAMETER, Value: rules('asia.gcr.io', registryHost), Type: 'SecureString', Overwrite: true }));
    proxy.set(PARAMETER, { kind: 'delay', ms: 300 });
    const results = join(scratch, 'results.jsonl');
    const run = runHarness({
      PATH: process.env['PATH'] ?? '/usr/bin:/bin',
      ...awsEnvFor(proxy.url),
      REWRITE_RULES_PARAMETER: PARAMETER,
      REWRITE_RULES_TTL_SECONDS: '1',
      WEBHOOK_TOKEN: EVENT_TOKEN,
      NODE_EXTRA_CA_CERTS: pki.caFile,
      AWS_LAMBDA_MAX_CONCURRENCY: String(PER_ROUND * THREADS),
      AWS_LAMBDA_LOG_FORMAT: 'JSON',
      LMI_HANDLER: join(REPO_ROOT, 'dist/handler.js'),
      LMI_EVENT: join(REPO_ROOT, 'events/rest-pod-v1.json'),
      LMI_RESULTS: results,
      LMI_THREADS: String(THREADS),
      LMI_PER_ROUND: String(PER_ROUND),
      LMI_ROUNDS: String(ROUNDS),
      LMI_GAP_MS: String(GAP_MS),
    });
    // The second version, once every thread has loaded the first and a review used it.
    await eventually('every thread loaded the first version', 60_000, () => {
      const text = run.seen();
      return Promise.resolve(text.split('"message":"rules loaded"').length - 1 >= THREADS && text.includes('"rulesVersion":"1"') ? true : undefined);
    }, 20);
    const second = await ssm.send(new PutParameterCommand({ Name: PARAMETER, Value: rules('eu.gcr.io', registryHost), Type: 'SecureString', Overwrite: true }));
    const { code, stdout, stderr } = await run.done;
    expect({ code, stderr: stderr.split('\n').filter((l) => !l.includes('"level":"WARN"') && l !== '').slice(0, 5) }).toEqual({ code: 0, stderr: [] });

    // Every line JSON: none cut into another.
    const raw = stdout.split('\n').filter((l) => l !== '');
    const unreadable = raw.filter((l) => {
      try {
        JSON.parse(l);
        return false;
      } catch {
        return true;
      }
    });
    expect(unreadable.map((l) => `${l.slice(0, 80)}...${l.slice(-40)}`)).toEqual([]);
    const lines = raw.map((l) => JSON.parse(l) as Line);

    // Every answer its own request's: its uid, its own images, each rewritten by a rule of one version.
    const answers = readFileSync(results, 'utf8').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Result);
    expect(answers).toHaveLength(TOTAL);
    const byId = new Map(answers.map((a) => [a.id, a]));
    expect(byId.size).toBe(TOTAL);
    for (const a of answers) {
      expect({ status: a.status, uid: a.uid, allowed: a.allowed }).toEqual({ status: 200, uid: `uid-${a.id}`, allowed: true });
      expect(a.images['app']).toMatch(new RegExp(`^(asia|eu)\\.gcr\\.io/team-${a.id}/app:1$`));
      if (Number(a.id.split('i')[1]) % 3 === 0) expect(a.images['side']).toBe(`${registryHost}/quay/team-${a.id}/side:1`);
      expect(Object.keys(a.images)).toHaveLength(a.containers);
    }

    // One review line per invocation, with its own context and rewrites, and the version its answer used.
    const reviews = lines.filter((l) => l['message'] === 'admission reviewed');
    expect(reviews).toHaveLength(TOTAL);
    const versions = new Set<string>();
    for (const line of reviews) {
      const id = String(line['uid']).replace(/^uid-/, '');
      const answer = byId.get(id);
      if (answer === undefined) throw new Error(`a review line for no request: ${String(line['uid'])}`);
      const [thread = '', round = '', index = ''] = id.slice(1).split(/[ri]/);
      expect(line).toMatchObject({
        function_request_id: `req-${id}`,
        xray_trace_id: `1-${thread.padStart(8, '0')}-${round.padStart(12, '0')}${index.padStart(12, '0')}`,
        namespace: `ns-${id}`,
        name: `pod-${id}`,
        rewrites: answer.containers,
      });
      const rewritten = line['rewritten'] as { from: string; to: string }[];
      for (const r of rewritten) expect(r.from).toContain(`/team-${id}/`);
      const app = rewritten.find((r) => r.from === `gcr.io/team-${id}/app:1`);
      expect(app?.to).toBe(answer.images['app']);
      versions.add(`${String(line['rulesVersion'])} ${app?.to.split('/')[0] ?? ''}`);
    }
    // Both versions answered, each with its own rule, never one's version with the other's rewrite.
    expect([...versions].sort()).toEqual(['1 asia.gcr.io', `${String(second.Version)} eu.gcr.io`]);

    // One EMF document per invocation; the counts add up.
    const documents = lines.filter((l) => '_aws' in l);
    expect(documents).toHaveLength(TOTAL);
    const sum = (key: string): number => documents.reduce((n, d) => n + (typeof d[key] === 'number' ? d[key] : 0), 0);
    expect(sum('Reviews')).toBe(TOTAL);
    expect(sum('Rewrites')).toBe(answers.reduce((n, a) => n + a.containers, 0));
    const checked = answers.filter((a) => a.images['side'] !== undefined).length;
    expect(sum('VerifyChecks')).toBe(checked);
    expect(asked).toBe(checked);

    // Each thread read the parameter at its init and after the change: its own cache of the rules.
    const loaded = lines.filter((l) => l['message'] === 'rules loaded');
    expect(loaded.filter((l) => l['version'] === '1')).toHaveLength(THREADS);
    expect(loaded.filter((l) => l['version'] === String(second.Version))).toHaveLength(THREADS);
    expect(sum('ConfigRefreshes')).toBeGreaterThanOrEqual(2 * THREADS);
  });
});
