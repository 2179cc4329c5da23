#!/usr/bin/env bash
# Dependency audit for CI (npm run audit). Policy (docs/reliability.md, "Dependencies"):
#   1. Production dependencies (what ships in dist/ and the Lambda bundle): `npm audit --omit=dev
#      --audit-level=high`; a high or critical advisory fails the run. Fix by upgrading, or record an
#      exception in docs/reliability.md with the advisory id and why it does not apply.
#   2. Development dependencies: reported (counts by severity), never fail the run.
#   3. Install scripts: every dependency with one must be decided in package.json "allowScripts"
#      (`npm install-scripts ls` must list nothing unreviewed); esbuild's is allowed (it installs its
#      binary), @parcel/watcher's is denied (jest's optional file watcher: its prebuilt binary comes
#      as a package, the script only compiles from source as a fallback).
#   4. When the registry cannot answer audit requests (offline, a mirror without the advisory
#      endpoint: this workplace's answers 405), the script says so and exits 3: an audit that did
#      not run is not a pass. IMAGE_REWRITER_AUDIT_UNAVAILABLE=allow turns that into a warning and
#      exit 0, for CI on such a network; steps 3 still runs and still fails on its own.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

say() { echo "audit: $*" >&2; }
status=0

# --- 3. install scripts (needs no network) ---------------------------------------------------------
scripts_report="$(npm install-scripts ls 2>&1)"
if ! grep -q 'No packages with unreviewed install scripts' <<<"$scripts_report"; then
  say "dependencies with install scripts not decided in package.json allowScripts:"
  echo "$scripts_report" >&2
  status=1
else
  decided="$(node -e 'const p=require("./package.json");console.log(Object.entries(p.allowScripts??{}).map(([k,v])=>`${k}=${v?"allowed":"denied"}`).join(", "))')"
  say "install scripts: every one decided (${decided})"
fi

# --- 1 and 2. advisories ---------------------------------------------------------------------------
# Reads `npm audit --json` on stdin; prints "ok <counts>", "findings <counts>" or "unavailable <why>".
summarize='
let text = "";
process.stdin.on("data", (d) => (text += d)).on("end", () => {
  let r;
  try { r = JSON.parse(text); } catch { console.log("unavailable npm audit printed no JSON"); return; }
  const v = r?.metadata?.vulnerabilities;
  if (v === undefined) { console.log(`unavailable ${r?.message ?? r?.error?.summary ?? "no report"}`); return; }
  const counts = ["critical", "high", "moderate", "low", "info"].map((s) => `${s}=${v[s] ?? 0}`).join(" ");
  console.log(`${(v.critical ?? 0) + (v.high ?? 0) > 0 ? "findings" : "ok"} ${counts}`);
});'

prod="$(npm audit --omit=dev --json 2>/dev/null | node -e "$summarize")"
all="$(npm audit --json 2>/dev/null | node -e "$summarize")"

case "$prod" in
  ok*) say "production dependencies: no high or critical advisory (${prod#ok })" ;;
  findings*)
    say "production dependencies: HIGH OR CRITICAL ADVISORIES (${prod#findings }):"
    npm audit --omit=dev --audit-level=high >&2
    status=1 ;;
  *)
    say "npm audit COULD NOT RUN against the registry: ${prod#unavailable }"
    if [[ "${IMAGE_REWRITER_AUDIT_UNAVAILABLE:-}" == allow ]]; then
      say "IMAGE_REWRITER_AUDIT_UNAVAILABLE=allow: continuing WITHOUT an advisory check (run npm run audit where the registry answers)"
    else
      say "no advisory check was made, so this is not a pass; set IMAGE_REWRITER_AUDIT_UNAVAILABLE=allow to accept that"
      [[ $status -eq 0 ]] && status=3
    fi ;;
esac

case "$all" in
  ok* | findings*) say "all dependencies, dev included (reported, never fails): ${all#* }" ;;
  *) say "dev dependencies: not audited (${all#unavailable })" ;;
esac

exit $status
