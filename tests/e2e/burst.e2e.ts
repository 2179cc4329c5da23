/**
 * A burst of Pods through the real kube-apiserver, as a Deployment scaled from zero, a Job's
 * parallelism or a CI system makes them: 64 created at once, twice, 12 s apart. Every Pod is
 * rewritten, and the API server's own metrics count no failed call (this file registers its own
 * serve with failurePolicy Fail: a failed call is a refused Pod).
 *
 * Between the two bursts, the connections the API server opened for the first one and never used
 * (its HTTP client dials more than a burst ends up using, and keeps the spare ones idle for up to
 * 90 s) reach serve's headers timeout (10 s). serve answered them 408 and closed them, and a review
 * written to one at that moment got the 408 as its answer: refused (docs/reliability.md, section 4).
 * They are kept now, as the API server's other idle connections are; no connection is answered 408.
 * serve runs with `--workers 2` (deploy/serve.yaml's): each worker accepts its own connections, so
 * a spare connection may be held by a worker that saw none of that caller's reviews; the workers
 * share the callers they saw (src/cli/serve-callers.ts): before, 8 were answered 408 in one CI
 * run (tests/unit/serve-workers-callers.test.ts makes that case certain). Counts only, never
 * timings: the 408 was a race, its trace in serve's log is not.
 */
import { describe, expect } from '@jest/globals';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { Agent, request } from 'node:https';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parse as parseYaml } from 'yaml';
import { E2eEnvironment } from './harness/environment.js';
import { scenario } from './harness/scenario.js';
import { done, eventually, notYet } from './harness/wait.js';
import { webhookUrl } from './harness/webhook.js';

const run = promisify(execFile);
const env = E2eEnvironment.connect();

const WEBHOOK_NAME = 'image-rewriter.image-rewriter.io';
const NS = 'burst';
const AT_ONCE = 64;
/** Past serve's headers timeout (10 s) and Node's check of it (every second). */
const BETWEEN_BURSTS_MS = 12_000;

/** POST a Pod to the API server (the kubeconfig's token and CA): its status and stored image. */
function client(): { create: (name: string, image: string) => Promise<{ status: number; image: string }>; close: () => void } {
  const config = parseYaml(readFileSync(env.kubeconfig, 'utf8')) as {
    clusters: { cluster: { server: string; 'certificate-authority': string } }[];
    users: { user: { token: string } }[];
  };
  const cluster = config.clusters[0]?.cluster;
  const token = config.users[0]?.user.token;
  if (cluster === undefined || token === undefined) throw new Error(`cannot read ${env.kubeconfig}`);
  const agent = new Agent({ keepAlive: true, maxSockets: AT_ONCE, ca: readFileSync(cluster['certificate-authority']) });
  const create = (name: string, image: string): Promise<{ status: number; image: string }> => {
    const body = JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name }, spec: { containers: [{ name: 'app', image }] } });
    return new Promise((resolve, reject) => {
      const req = request(
        new URL(`/api/v1/namespaces/${NS}/pods`, cluster.server),
        { method: 'POST', agent, timeout: 60_000, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
        (res) => {
          let text = '';
          res.on('data', (c: Buffer) => (text += c.toString('utf8')));
          res.on('end', () => {
            let stored = text.slice(0, 300);
            try {
              stored = (JSON.parse(text) as { spec?: { containers?: { image?: string }[] } }).spec?.containers?.[0]?.image ?? stored;
            } catch {
              // not JSON: kept as text
            }
            resolve({ status: res.statusCode ?? 0, image: stored });
          });
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error(`POST ${name}: timeout`)));
      req.on('error', reject);
      req.end(body);
    });
  };
  return { create, close: () => { agent.destroy(); } };
}

/** The API server's counts of calls to this webhook (`apiserver_admission_webhook_*`), by series. */
async function webhookCounts(): Promise<Map<string, number>> {
  const { stdout: text } = await env.kubectl.ok(['get', '--raw', '/metrics']);
  const counts = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^(apiserver_admission_webhook_(?:rejection_count|fail_open_count|request_total)\{[^}]*\}) (\S+)$/.exec(line);
    if (m?.[1] !== undefined && m[2] !== undefined && (m[1].includes(`name="${WEBHOOK_NAME}"`) || m[1].startsWith('apiserver_admission_webhook_fail_open_count'))) counts.set(m[1], Number(m[2]));
  }
  return counts;
}

/** What grew between two readings, without the series of answered calls (code 200). */
function failedCalls(before: Map<string, number>, after: Map<string, number>): Record<string, number> {
  const grown: Record<string, number> = {};
  for (const [series, value] of after) {
    const delta = value - (before.get(series) ?? 0);
    if (delta > 0 && !series.includes('code="200"')) grown[series] = delta;
  }
  return grown;
}

describe('a burst of Pods through the real kube-apiserver', () => {
  scenario(env, '1. 64 Pods at once, twice 12 s apart: every one rewritten, no failed call, no spare connection answered 408', async () => {
    await env.kubectl.createNamespace(NS);
    const rules = join(env.runDir, 'webhook', 'burst-rules.yaml');
    await writeFile(rules, 'rules:\n  - name: burst\n    match: gcr.io/burst\n    replace: mirror.example.com/burst\n');
    // A serve of its own, and a configuration of its own: a new URL, so the API server calls it
    // through a new HTTP client whose pool the first burst fills.
    const serve = await env.startExtraServe('serve-burst', { rules, workers: 2 });
    const api = client();
    try {
      const { stdout: config } = await run(process.execPath, [
        join(env.root, 'dist', 'cli.js'), 'webhook-config', '--url', webhookUrl(serve.port, env.webhook.token), '--ca-bundle', env.webhook.files.caCert, '--scope', 'pods', '--failure-policy', 'Fail',
      ]);
      await env.applyWebhookConfig(config);
      await eventually('the burst rules in effect', { timeoutMs: 60_000 }, async () => {
        const r = await api.create(`ready-${Date.now()}`, 'gcr.io/burst/ready:1');
        return r.image === 'mirror.example.com/burst/ready:1' ? done(undefined) : notYet(`${r.status} ${r.image}`);
      });
      const mark = serve.mark();
      const before = await webhookCounts();
      const burst = async (round: number): Promise<Record<string, number>> => {
        const results = await Promise.all(Array.from({ length: AT_ONCE }, (_, i) => api.create(`pod-${round}-${i}`, `gcr.io/burst/app:${round}`)));
        const outcomes: Record<string, number> = {};
        for (const r of results) {
          const key = `${r.status} ${r.image}`;
          outcomes[key] = (outcomes[key] ?? 0) + 1;
        }
        return outcomes;
      };
      expect(await burst(1)).toEqual({ [`201 mirror.example.com/burst/app:1`]: AT_ONCE });
      await new Promise((resolve) => setTimeout(resolve, BETWEEN_BURSTS_MS));
      expect(await burst(2)).toEqual({ [`201 mirror.example.com/burst/app:2`]: AT_ONCE });
      expect(failedCalls(before, await webhookCounts())).toEqual({});
      // The spare connections were kept: none answered 408 by Node's headers timeout.
      const lines = serve.lines(mark);
      const timedOut = lines.filter((l) => l.message === 'bad request from client');
      expect(timedOut.map((l) => `${String(l['status'])} ${String(l['code'])}`)).toEqual([]);
      // Both workers served reviews: the API server's connections were spread over the two.
      const reviewing = new Set(lines.filter((l) => l.message === 'request' && l['resource'] === '/mutate/{token}').map((l) => l['worker']));
      expect([...reviewing].sort()).toEqual([1, 2]);
    } finally {
      api.close();
      await env.restoreWebhook();
      await env.stopServe(serve);
    }
  });
});
