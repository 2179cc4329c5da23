/**
 * The second wall against regexes that backtrack: V8's linear-time regex engine, used for any
 * regex execution that backtracks more than V8's threshold (50,000 backtracks by default).
 *
 * The first wall is the check of rule regexes at load (src/config/regex-check.ts), which rejects the
 * constructs that backtrack badly; this one bounds what a regex the check missed could cost. The
 * flag changes no result: the fallback engine finds the same matches, only without backtracking
 * (regexes it cannot run, with backreferences or lookarounds, keep backtracking; the check rejects
 * those in rules).
 *
 * `--enable-experimental-regexp-engine-on-excessive-backtracks` is a V8 flag that Node refuses in
 * NODE_OPTIONS ("is not allowed in NODE_OPTIONS", so the SAM template cannot set it for the
 * Lambda), hence `v8.setFlagsFromString` in each entry point: first thing in src/cli/bin.ts, last
 * thing in the init of src/lambda/main.ts (before any request; there it says why late). V8 reads
 * the flag when a regex exceeds the threshold, so it applies to regexes compiled before the call
 * too. docs/reliability.md has the measurements.
 */
export const REGEX_FALLBACK_FLAG = '--enable-experimental-regexp-engine-on-excessive-backtracks';

/** Turn on V8's linear-time fallback for regexes that backtrack excessively (process-wide). */
export function enableRegexFallback(): void {
  // Not a static import: that would also build node:v8's ES module namespace at every cold start.
  process.getBuiltinModule('node:v8').setFlagsFromString(REGEX_FALLBACK_FLAG);
}
