/**
 * Pull secrets: the rules' `imagePullSecrets` added to the pod spec whose images they rewrote, each
 * name once, after the names already listed.
 */
import { add, type PatchOperation } from './patch.js';
import { own } from './json.js';
import type { FieldProblem } from './workload.js';

/** The names in `wanted` that the pod spec's imagePullSecrets list lacks (all of them when it has none). */
export function missingPullSecrets(podSpec: Readonly<Record<string, unknown>>, wanted: readonly string[]): readonly string[] {
  const existing = own(podSpec, 'imagePullSecrets');
  if (!Array.isArray(existing)) return wanted;
  const entries: readonly unknown[] = existing;
  const have = new Set(entries.map((e) => own(e, 'name')));
  return wanted.filter((name) => !have.has(name));
}

/** The ops that add the rules' imagePullSecrets missing from the pod spec (no duplicates). */
export function pullSecretOps(
  podSpec: Readonly<Record<string, unknown>>,
  podSpecPointer: string,
  wanted: readonly string[],
  malformed: FieldProblem[],
): PatchOperation[] {
  const listPointer = `${podSpecPointer}/imagePullSecrets`;
  const existing = own(podSpec, 'imagePullSecrets');
  const missing = missingPullSecrets(podSpec, wanted);
  if (missing.length === 0) return [];
  if (existing === undefined || existing === null) return [add(listPointer, missing.map((name) => ({ name })))];
  if (!Array.isArray(existing)) {
    malformed.push({ pointer: listPointer, problem: 'is not a list; imagePullSecrets not added' });
    return [];
  }
  return missing.map((name) => add(`${listPointer}/-`, { name }));
}
