/**
 * scripts/audit.sh (`npm run audit`) on canned `npm audit --json` reports: a copy of the script in a
 * scratch project, with a fake `npm` first on PATH (no registry is asked). Checks the exceptions of
 * scripts/audit-exceptions.txt: an excepted advisory does not fail the run, one not excepted does,
 * an exception that matches no advisory fails it, a line without a reason fails it; and the
 * committed file is valid.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';

const ROOT = join(import.meta.dirname, '..', '..');
const GHSA = 'GHSA-3xgq-45jj-v275';

/** A report as npm 10 prints it: `cross-spawn` has the advisory, `foo` is vulnerable through it. */
const FINDING = {
  auditReportVersion: 2,
  vulnerabilities: {
    'cross-spawn': {
      name: 'cross-spawn',
      severity: 'high',
      isDirect: false,
      via: [{ source: 1100563, name: 'cross-spawn', dependency: 'cross-spawn', title: 'Regular Expression Denial of Service (ReDoS) in cross-spawn', url: `https://github.com/advisories/${GHSA}`, severity: 'high', cwe: ['CWE-1333'], range: '>=7.0.0 <7.0.5' }],
      effects: ['foo'],
      range: '7.0.0 - 7.0.4',
      nodes: ['node_modules/cross-spawn'],
      fixAvailable: true,
    },
    foo: { name: 'foo', severity: 'high', isDirect: true, via: ['cross-spawn'], effects: [], range: '*', nodes: ['node_modules/foo'], fixAvailable: true },
  },
  metadata: { vulnerabilities: { info: 0, low: 0, moderate: 0, high: 2, critical: 0, total: 2 } },
};
const CLEAN = { auditReportVersion: 2, vulnerabilities: {}, metadata: { vulnerabilities: { info: 0, low: 0, moderate: 0, high: 0, critical: 0, total: 0 } } };
const UNAVAILABLE = { error: { code: 'E405', summary: '405 Method Not Allowed' } };

const scratch = mkdtempSync(join(tmpdir(), 'audit-script-'));
afterAll(() => {
  rmSync(scratch, { recursive: true, force: true });
});

let runs = 0;
/** Run a copy of scripts/audit.sh with `exceptions` as its exceptions file and `prod` as npm's production report. */
function run(prod: unknown, exceptions: string): { code: number | null; err: string } {
  const dir = join(scratch, String(runs++));
  mkdirSync(join(dir, 'scripts'), { recursive: true });
  mkdirSync(join(dir, 'bin'));
  copyFileSync(join(ROOT, 'scripts', 'audit.sh'), join(dir, 'scripts', 'audit.sh'));
  writeFileSync(join(dir, 'scripts', 'audit-exceptions.txt'), exceptions);
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ allowScripts: { esbuild: true } }));
  writeFileSync(join(dir, 'prod.json'), JSON.stringify(prod));
  writeFileSync(join(dir, 'all.json'), JSON.stringify(CLEAN));
  const npm = join(dir, 'bin', 'npm');
  writeFileSync(
    npm,
    [
      '#!/usr/bin/env bash',
      'case "$*" in',
      '  "install-scripts ls") echo "No packages with unreviewed install scripts" ;;',
      `  "audit --omit=dev --json") cat ${JSON.stringify(join(dir, 'prod.json'))} ;;`,
      `  "audit --json") cat ${JSON.stringify(join(dir, 'all.json'))} ;;`,
      '  *) echo "fake npm: unexpected npm $*" >&2; exit 99 ;;',
      'esac',
      '',
    ].join('\n'),
  );
  chmodSync(npm, 0o755);
  const r = spawnSync('bash', [join(dir, 'scripts', 'audit.sh')], { encoding: 'utf8', env: { ...process.env, PATH: `${join(dir, 'bin')}${delimiter}${process.env['PATH'] ?? ''}`, IMAGE_REWRITER_AUDIT_UNAVAILABLE: '' } });
  expect(r.stderr).not.toContain('fake npm: unexpected');
  return { code: r.status, err: r.stderr };
}

describe('scripts/audit.sh: exceptions (scripts/audit-exceptions.txt)', () => {
  it('a high advisory not excepted fails the run, named with its GHSA id', () => {
    const r = run(FINDING, '# none\n');
    expect(r.code).toBe(1);
    expect(r.err).toContain('HIGH OR CRITICAL ADVISORIES (critical=0 high=2');
    expect(r.err).toContain(`  ${GHSA} high cross-spawn: Regular Expression Denial of Service (ReDoS) in cross-spawn https://github.com/advisories/${GHSA}\n`);
  });

  it.each([
    ['its GHSA id', GHSA],
    ["npm's number for it", '1100563'],
  ])('an advisory excepted by %s passes, the exception and its reason printed', (_name, id) => {
    const r = run(FINDING, `# comment\n\n${id}   only reached by jest, never in dist/\n`);
    expect(r.code).toBe(0);
    expect(r.err).toContain('production dependencies: no high or critical advisory');
    expect(r.err).toContain(`  ${id} (cross-spawn): only reached by jest, never in dist/\n`);
  });

  it('an exception that matches no advisory any more fails the run', () => {
    const r = run(CLEAN, `${GHSA} only reached by jest\n`);
    expect(r.code).toBe(1);
    expect(r.err).toContain('match no advisory any more: remove them');
    expect(r.err).toContain(`  ${GHSA}: only reached by jest\n`);
  });

  it('a line without a reason fails the run', () => {
    const r = run(FINDING, `${GHSA}\n`);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/audit-exceptions\.txt:1: "GHSA-3xgq-45jj-v275" is not "<advisory id> <reason>"/);
  });

  it('a registry that cannot audit: exit 3 as before, exceptions not called stale', () => {
    const r = run(UNAVAILABLE, `${GHSA} only reached by jest\n`);
    expect(r.code).toBe(3);
    expect(r.err).toContain('npm audit COULD NOT RUN against the registry: 405 Method Not Allowed');
    expect(r.err).not.toContain('remove them');
  });

  it('the committed exceptions file is valid (a clean report passes with it)', () => {
    const committed = readFileSync(join(ROOT, 'scripts', 'audit-exceptions.txt'), 'utf8');
    expect(run(CLEAN, committed)).toMatchObject({ code: 0 });
  });
});
