/** Compile a rules document for a test, failing loudly with every issue when it is invalid. */
import { formatIssues, parseRules } from '../../src/config/load.js';
import type { Rewriter } from '../../src/core/rules.js';
import { TEST_ENV } from './fixtures.js';

export function rewriterFrom(yaml: string, env: Readonly<Record<string, string>> = TEST_ENV): Rewriter {
  const r = parseRules(yaml, env);
  if (!r.ok) throw new Error(`rules did not compile:\n${formatIssues(r.issues)}`);
  return r.rewriter;
}

/**
 * The largest rules documents the matchCondition tests use: sixty ECR prefixes (one per account
 * and team, as a platform team's rules may have) and the demo's gcr.io rule last.
 */
export const ECR_RULES_YAML = `rules:\n${Array.from({ length: 60 }, (_, i) => {
  const account = String(100000000000 + i);
  return `  - name: r${i}\n    match: ${account}.dkr.ecr.eu-west-${(i % 3) + 1}.amazonaws.com/team-${i}\n    replace: ${account}.dkr.ecr.us-east-1.amazonaws.com/team-${i}\n`;
}).join('')}  - name: gcr\n    match: gcr.io\n    replace: asia.gcr.io\n`;

/** `count` match rules of distinct registries: past about 1,000 no matchCondition fits the API server's limits. */
export const registryRulesYaml = (count: number): string =>
  `rules:\n${Array.from({ length: count }, (_, i) => `  - name: r${i}\n    match: registry-${i}.example.com/team\n    replace: mirror.example.com/r${i}\n`).join('')}`;
