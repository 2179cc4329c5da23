/** Compile a rules document for a test, failing loudly with every issue when it is invalid. */
import { formatIssues, parseRules } from '../../src/config/load.js';
import type { Rewriter } from '../../src/core/rules.js';
import { TEST_ENV } from './fixtures.js';

export function rewriterFrom(yaml: string, env: Readonly<Record<string, string>> = TEST_ENV): Rewriter {
  const r = parseRules(yaml, env);
  if (!r.ok) throw new Error(`rules did not compile:\n${formatIssues(r.issues)}`);
  return r.rewriter;
}
