/**
 * Measured times: how long the environment took to start (per component), each scenario, the
 * teardown and the whole run. Scenarios append to `timings.jsonl` in the run folder (they run in
 * another module context than globalTeardown, which prints the summary where a person sees it).
 */
import { appendFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as z from 'zod';
import type { RunState } from './environment.js';

const scenarioTiming = z.object({ title: z.string(), ms: z.number(), status: z.enum(['passed', 'failed']) });
export type ScenarioTiming = z.infer<typeof scenarioTiming>;

const FILE = 'timings.jsonl';

export function recordScenario(runDir: string, timing: ScenarioTiming): void {
  appendFileSync(join(runDir, FILE), `${JSON.stringify(timing)}\n`);
}

export function readScenarios(runDir: string): ScenarioTiming[] {
  let text: string;
  try {
    text = readFileSync(join(runDir, FILE), 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter((l) => l !== '')
    .flatMap((l) => {
      const parsed = scenarioTiming.safeParse(JSON.parse(l));
      return parsed.success ? [parsed.data] : [];
    });
}

/** `12.3 s` */
export const s = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

/** The lines describing how the environment started. */
export function startLines(t: RunState['timings']): string[] {
  return [
    `cluster start: etcd ${s(t.etcdMs)}, kube-apiserver ${s(t.apiserverMs)} (spawn -> /readyz), kube-controller-manager ${s(t.controllerManagerMs)}; ${s(t.clusterMs)} in all`,
    `webhook: serve listening ${s(t.serveMs)}, configuration registered ${s(t.registerMs)}, effective after ${t.effectiveProbes} probe Pod(s) ${s(t.effectiveMs)}`,
    `environment ready in ${s(t.totalMs)}`,
  ];
}

/** Straight to stdout (not jest's console, which adds a stack location to each line). */
export function printBlock(title: string, lines: readonly string[]): void {
  process.stdout.write(`\n[e2e] ${title}\n${lines.map((l) => `[e2e]   ${l}\n`).join('')}`);
}
