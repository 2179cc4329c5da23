/**
 * `scenario(title, fn)`: a jest test that records its duration and outcome (printed by
 * globalTeardown) and, when it fails, appends the end of the webhook's and the API server's logs
 * to the error, where the reason usually is.
 */
import { it } from '@jest/globals';
import type { E2eEnvironment } from './environment.js';
import { recordScenario } from './timings.js';

function diagnostics(env: E2eEnvironment): string {
  const serve = env.serve;
  const webhookLines = env.apiserverLog
    .text()
    .split('\n')
    .filter((l) => l.includes('image-rewriter') || /calling webhook/i.test(l))
    .slice(-10);
  // The log lines, without the EMF metric documents between them.
  const serveLines = serve.log
    .text()
    .split('\n')
    .filter((l) => !l.startsWith('{"_aws"'))
    .slice(-15);
  return [
    `--- ${serve.name} log (${serve.record.log}), last lines:`,
    ...serveLines,
    '--- kube-apiserver log lines about webhooks, last ones:',
    ...webhookLines,
  ].join('\n');
}

export function scenario(env: E2eEnvironment, title: string, fn: () => Promise<void>): void {
  it(title, async () => {
    const started = performance.now();
    try {
      await fn();
      recordScenario(env.runDir, { title, ms: performance.now() - started, status: 'passed' });
    } catch (e) {
      recordScenario(env.runDir, { title, ms: performance.now() - started, status: 'failed' });
      if (e instanceof Error) e.message += `\n\n${diagnostics(env)}`;
      throw e;
    }
  });
}
