/**
 * `npm run demo` (through scripts/demo.sh): the end-to-end environment, for a person. Starts etcd,
 * kube-apiserver, kube-controller-manager and `image-rewriter serve` on 127.0.0.1 and registers the
 * webhook (tests/e2e/harness), applies the original demo's nginx-gcr.yaml, prints its image before
 * and after, then prints how to use the cluster (KUBECONFIG, kubectl commands) and waits.
 *
 * Ctrl-C (or SIGTERM) stops everything in reverse order and removes the temporary folder; a second
 * Ctrl-C kills everything at once. `--no-wait` tears down right after the before/after (a check
 * that the demo works, for CI).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { parse as parseYaml } from 'yaml';
import { teardownSync } from '../tests/e2e/harness/emergency.js';
import { E2eEnvironment } from '../tests/e2e/harness/environment.js';
import { deployment, list, pod } from '../tests/e2e/harness/kubectl.js';
import { startLines } from '../tests/e2e/harness/timings.js';
import { done, eventually, notYet } from '../tests/e2e/harness/wait.js';
import { usageLines } from './demo-usage.js';

const out = (line = ''): void => {
  process.stdout.write(`${line}\n`);
};
const indent = (text: string): string =>
  text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => `    ${l}`)
    .join('\n');

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { 'no-wait': { type: 'boolean', default: false } }, strict: true });
  const root = process.cwd();
  const manifestFile = join(root, 'nginx-gcr.yaml');
  const manifest = deployment.parse(parseYaml(await readFile(manifestFile, 'utf8')));
  const before = manifest.spec.template.spec.containers.map((c) => c.image).join(', ');

  out('Starting a local Kubernetes control plane (etcd, kube-apiserver, kube-controller-manager) and image-rewriter serve...');
  // Signals during the start: the emergency teardown (kill everything, remove the folder).
  const env = await E2eEnvironment.start({ root, handleSignals: true, log: (l) => { out(`  ${l}`); } });
  env.releaseSignals();
  let stopping = false;
  const stop = new Promise<NodeJS.Signals | 'done'>((resolve) => {
    const onSignal = (signal: NodeJS.Signals): void => {
      if (stopping) {
        const killed = teardownSync(env.runDir, false);
        process.stderr.write(`\n${signal} again: killed ${killed.join(', ') || 'nothing'}, removed ${env.runDir}\n`);
        process.exit(130);
      }
      stopping = true;
      resolve(signal);
    };
    for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(s, onSignal);
    if (values['no-wait']) resolve('done');
  });

  try {
    for (const line of startLines(env.timings)) out(`  ${line}`);
    const { kubectl } = env;
    await kubectl.waitForServiceAccount('default');

    out();
    out(`BEFORE  nginx-gcr.yaml asks for image: ${before}`);
    out('$ kubectl apply -f nginx-gcr.yaml');
    const applied = await kubectl.ok(['apply', '-f', manifestFile]);
    out(indent(`${applied.stderr}\n${applied.stdout}`));
    const pods = await eventually('the Pod of nginx-gcr-deployment', { timeoutMs: 90_000 }, async () => {
      const found = await kubectl.json(list(pod), ['get', 'pods', '-l', 'app=nginx-gcr']);
      return found.items.length > 0 ? done(found.items) : notYet('no Pod yet');
    });
    const stored = await kubectl.json(deployment, ['get', 'deployment', 'nginx-gcr-deployment']);
    out(`AFTER   the Deployment's stored template: ${stored.spec.template.spec.containers.map((c) => c.image).join(', ')}`);
    for (const p of pods) out(`        its Pod ${p.metadata.name}: ${p.spec.containers.map((c) => c.image).join(', ')} (Pending: there is no kubelet)`);
    out(`        annotation image-rewriter.io/original-images: ${stored.metadata.annotations?.['image-rewriter.io/original-images'] ?? '(none)'}`);

    const files = env.webhook.files;
    out();
    for (const line of usageLines({ kubeconfig: env.kubeconfig, binDir: env.binDir, rules: files.rules, webhookLog: env.serve.record.log, logs: join(env.runDir, 'logs') })) out(line);
    out();
    if (!values['no-wait']) out('Press Ctrl-C to stop everything and remove the temporary folder.');
    const why = await stop;
    out(why === 'done' ? 'Stopping (--no-wait)...' : `${why}: stopping...`);
  } finally {
    const ms = await env.stop();
    out(`Stopped every process and removed ${env.runDir} in ${(ms / 1000).toFixed(1)} s.`);
  }
  return 0;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`demo failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(1);
  },
);
