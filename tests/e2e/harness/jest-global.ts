/**
 * What jest's globalSetup and globalTeardown do, in one module that global-setup.ts bundles with
 * esbuild and imports (jest loads a globalSetup file through Node's own resolver, which cannot
 * follow the `.js` specifiers of TypeScript sources; the bundle has none left).
 *
 * setup: start the environment once for every test file, in jest's own process, where the exit
 * and signal handlers of emergency.ts really fire; tell the test files where its state is.
 * teardown: stop everything and print the measured times.
 */
import { E2eEnvironment, STATE_VARIABLE } from './environment.js';
import { printBlock, readScenarios, s, startLines } from './timings.js';

let environment: E2eEnvironment | undefined;

export async function setup(rootDir: string): Promise<void> {
  process.stdout.write('\n');
  environment = await E2eEnvironment.start({
    root: rootDir,
    handleSignals: true,
    log: (line) => {
      process.stdout.write(`[e2e] ${line}\n`);
    },
  });
  process.env[STATE_VARIABLE] = environment.stateFile;
  printBlock('environment started', [`kube-apiserver ${environment.kubernetes.gitVersion}`, ...startLines(environment.timings), `kubeconfig ${environment.kubeconfig}`]);
}

export async function teardown(): Promise<void> {
  const env = environment;
  environment = undefined;
  if (env === undefined) return;
  const scenarios = readScenarios(env.runDir);
  const teardownMs = await env.stop();
  const suiteMs = Date.now() - env.timings.startedAt;
  const width = Math.max(0, ...scenarios.map((x) => x.title.length));
  printBlock('timings', [
    `kube-apiserver ${env.kubernetes.gitVersion}`,
    ...startLines(env.timings),
    ...scenarios.map((x) => `${x.title.padEnd(width)}  ${x.status === 'passed' ? 'PASS' : 'FAIL'}  ${s(x.ms).padStart(7)}`),
    `scenarios: ${scenarios.filter((x) => x.status === 'passed').length}/${scenarios.length} passed, ${s(scenarios.reduce((a, x) => a + x.ms, 0))} in all`,
    `teardown (every process stopped, run folder ${env.keep ? `kept: ${env.runDir}` : 'removed'}): ${s(teardownMs)}`,
    `whole suite (environment start -> teardown done): ${s(suiteMs)}`,
  ]);
}
