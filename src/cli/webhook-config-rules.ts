/**
 * The rules `webhook-config --config` derives its matchConditions from: the file read as every
 * command reads a rules file (UTF-8 or an error), validated as everywhere, with placeholders for
 * the `${env:...}` values the function has but this machine seldom does.
 */
import { type Io, isNotUtf8 } from './common.js';
import { formatIssues, parseRules } from '../config/load.js';
import { readRulesFile } from '../config/rules-provider.js';
import { describeSystemError } from '../config/system-error.js';
import type { CompiledRule } from '../core/rules.js';

/** What an unset variable stands for here; each keeps a `replace` that uses it a valid name. */
const PLACEHOLDERS: Readonly<Record<string, string>> = { AWS_ACCOUNT_ID: '000000000000', AWS_REGION: 'us-east-1', AWS_URL_SUFFIX: 'amazonaws.com' };

/**
 * `env` with a placeholder for each `${env:NAME}` of the rules it lacks. The conditions come from
 * the rules' match, regex, exclude and namespaces, never from a replace, the only field that takes
 * `${env:...}`; the values the function has (its account, its region) are seldom set where the
 * configuration is made, and the README's ECR rules would stop it for nothing.
 */
function withPlaceholders(text: string, env: Readonly<Record<string, string | undefined>>): { env: Record<string, string | undefined>; placeheld: string[] } {
  const out: Record<string, string | undefined> = { ...env };
  const placeheld: string[] = [];
  for (const m of text.matchAll(/\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}/g)) {
    const name = m[1] ?? '';
    if ((out[name] ?? '').trim() !== '' || placeheld.includes(name)) continue;
    out[name] = PLACEHOLDERS[name] ?? 'placeholder.invalid';
    placeheld.push(name);
  }
  return { env: out, placeheld };
}

/** The rules of `file`, or undefined after saying on stderr why there are none (exit 2). */
export async function readConditionRules(file: string, io: Io): Promise<{ readonly rules: readonly CompiledRule[]; readonly allowOptOut: boolean } | undefined> {
  // As every other command says it (src/cli/common.ts): not "cannot read --config : ENOENT".
  if (file.trim() === '') {
    io.stderr('error: --config names no rules document (it is empty)\n');
    return undefined;
  }
  let text: string;
  try {
    // UTF-8 or an error, as every command reads its rules file (src/config/rules-provider.ts).
    text = await readRulesFile(file);
  } catch (e) {
    const reason = isNotUtf8(e) ? 'not UTF-8 text (save the rules document as UTF-8)' : describeSystemError(e);
    io.stderr(`error: cannot read --config ${file}: ${reason}\n`);
    return undefined;
  }
  const { env, placeheld } = withPlaceholders(text, io.env);
  if (placeheld.length > 0) io.stderr(`note: ${placeheld.map((n) => `\${env:${n}}`).join(', ')} not set here: placeholders used (the conditions never depend on replace)\n`);
  const parsed = parseRules(text, env);
  if (!parsed.ok) {
    io.stderr(`error: invalid rules document ${file}:\n${formatIssues(parsed.issues)}\n`);
    return undefined;
  }
  // Printed like every other command's (a rule never used, no rules at all): the configuration
  // goes to stdout, often straight into kubectl, so these are the only place the user sees them.
  if (parsed.warnings.length > 0) io.stderr(`${formatIssues(parsed.warnings)}\n`);
  return { rules: parsed.rewriter.rules, allowOptOut: parsed.rewriter.allowOptOut };
}
