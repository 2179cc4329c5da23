/**
 * Differential test of src/core/reference.ts against the Go code it ports: every parser
 * (Parse, ParseNamed, ParseNormalizedNamed, ParseDockerRef, ParseAnyReference) of
 * github.com/distribution/reference v0.6.0, the kubelet's and containerd's, on a fixed-seed corpus
 * (tests/integration/helpers/reference-corpus.ts), through hack/reference-oracle (built from the Go
 * module proxy by hack/reference-oracle/build.sh). Every field must be Go's: the verdict, the error
 * kind and message, domain, path, tag, digest, String(), FamiliarName(), FamiliarString().
 *
 * The registry and manifest a `verify` check asks for (src/verify/target.ts) must be what
 * containerd pulls (ParseDockerRef: the digest when there is one, else the tag, else latest).
 *
 * Then the product: every image the rules fixtures (tests/fixtures/valid-*.yaml) rewrite must be
 * one Go's ParseNormalizedNamed accepts, with the image's own tag and digest as Go reads them, and
 * one CRI-O's parser (go.podman.io/image/v5/docker/reference, an older fork) accepts when it
 * accepted the image, unless the new name is over 255 characters (CRI-O counts the host; the
 * kubelet and containerd do not).
 *
 * REFERENCE_ORACLE_INPUTS (default 30000) and REFERENCE_ORACLE_SEED change the corpus: a long run
 * is the same test with a larger number (300000 takes about two minutes) and several seeds (the corpus
 * is held in memory: keep each run to a few hundred thousand). The times of both parsers are printed.
 * The exported regexps (`grammar`) are compared too.
 */
import { spawnSync } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { describe, expect, it } from '@jest/globals';
import { MAX_DOMAIN_LENGTH, MAX_REFERENCE_LENGTH } from '../../src/core/matched-name.js';
import { parseNormalizedNamed } from '../../src/core/reference.js';
import type { Rewriter } from '../../src/core/rules.js';
import { targetOf } from '../../src/verify/target.js';
import { fixture, fixtureNames } from '../helpers/fixtures.js';
import { rewriterFrom } from '../helpers/rules.js';
import { parseRules } from '../../src/config/load.js';
import { printFigures } from './helpers/figures.js';
import { askOracle, corpus, differences, type GoResult } from './helpers/reference-corpus.js';
import { referenceOracleBinary } from './helpers/tools.js';

const SIZE = Number(process.env['REFERENCE_ORACLE_INPUTS'] ?? 30_000);
const SEED = Number(process.env['REFERENCE_ORACLE_SEED'] ?? 20261205);
/** Inputs per oracle process: its answers are about 1.5 KB each. */
const CHUNK = 20_000;
const NAMESPACES = [undefined, 'team-a', 'kube-system'] as const;

function isError(r: GoResult): r is { error: string; message: string } {
  return 'error' in r;
}

/** `xs[i]`, which must be there (the oracle answers one line per input). */
function at<T>(xs: readonly T[], i: number): T {
  const x = xs[i];
  if (x === undefined) throw new Error(`no answer ${i} of ${xs.length}`);
  return x;
}

/** At most `n` lines of a list of problems, and how many there were. */
function firstOf(problems: readonly string[], n = 20): string[] {
  return problems.length <= n ? [...problems] : [...problems.slice(0, n), `... and ${problems.length - n} more`];
}

describe('src/core/reference.ts against Go (distribution/reference v0.6.0)', () => {
  const oracle = referenceOracleBinary();
  const inputs = corpus(SEED, SIZE);
  const rewriters: (readonly [string, Rewriter])[] = fixtureNames(/^valid-.*\.ya?ml$/).map((n) => [n, rewriterFrom(fixture(n))] as const);

  it(`every parser gives Go's answer, field by field, on ${SIZE} generated inputs (seed ${SEED}); every rewrite is an image Go reads the same`, () => {
    const parserProblems: string[] = [];
    const rewriteProblems: string[] = [];
    const crioLonger: string[] = [];
    let rewritten = 0;
    let valid = 0;
    for (let from = 0; from < inputs.length; from += CHUNK) {
      const chunk = inputs.slice(from, from + CHUNK);
      const answers = askOracle(oracle, chunk);
      const outputs: { image: number; out: string; by: string }[] = [];
      chunk.forEach((s, i) => {
        const go = at(answers, i);
        if (!isError(go.normalized)) valid++;
        const d = differences(s, go);
        if (d.length > 0) parserProblems.push(`${JSON.stringify(s)}: ${d.join('; ')}`);
        // What a verify check asks the registry for is what containerd pulls (ParseDockerRef).
        const target = targetOf(s);
        const pulled = go.dockerRef;
        if (target.ok !== !('error' in pulled)) parserProblems.push(`${JSON.stringify(s)}: targetOf ok=${String(target.ok)}, ParseDockerRef ${JSON.stringify(pulled)}`);
        if (target.ok && 'path' in pulled) {
          const t = target.target;
          const seen = { registry: t.registry, repository: t.repository, reference: t.kind === 'oci' ? t.reference : (t.digest ?? t.tag) };
          const want = { registry: pulled.domain, repository: pulled.path, reference: pulled.digest === '' ? pulled.tag : pulled.digest };
          if (JSON.stringify(seen) !== JSON.stringify(want)) parserProblems.push(`${JSON.stringify(s)}: verify asks for ${JSON.stringify(seen)}, containerd pulls ${JSON.stringify(want)}`);
        }
        // The rewriter leaves alone as invalid exactly what Go refuses, and what is past the bounds
        // docs/reliability.md gives (a host over MAX_DOMAIN_LENGTH, an image over MAX_REFERENCE_LENGTH).
        const first = rewriters[0]?.[1].rewrite(s);
        const past = s.length > MAX_REFERENCE_LENGTH || ('domain' in go.normalized && go.normalized.domain.length > MAX_DOMAIN_LENGTH);
        if ((first?.kind === 'invalid') !== ('error' in go.normalized || past)) parserProblems.push(`${JSON.stringify(s)}: the rewriter says ${first?.kind ?? '?'}, Go ${JSON.stringify(go.normalized)}`);
        if ('error' in go.normalized) return;
        for (const [name, rewriter] of rewriters) {
          for (const namespace of NAMESPACES) {
            const r = rewriter.rewrite(s, { namespace });
            if (r.kind === 'rewritten') outputs.push({ image: i, out: r.rewritten, by: `${name} ${r.rule.name}` });
          }
        }
      });
      rewritten += outputs.length;
      // Several rules fixtures give the same result: ask about each once.
      const distinct = [...new Set(outputs.map((o) => o.out))];
      const answered = new Map(askOracle(oracle, distinct).map((a, k) => [distinct[k] ?? '', a]));
      outputs.forEach(({ image, out, by }) => {
        const goOut = answered.get(out);
        if (goOut === undefined) throw new Error(`no answer for ${out}`);
        const before = at(answers, image).normalized;
        const after = goOut.normalized;
        const what = `${by}: ${JSON.stringify(chunk[image])} -> ${JSON.stringify(out)}`;
        if ('error' in after || 'error' in before || 'digestOnly' in after || 'digestOnly' in before) {
          rewriteProblems.push(`${what}: Go reads ${JSON.stringify(before)} -> ${JSON.stringify(after)}`);
          return;
        }
        if (after.tag !== before.tag || after.digest !== before.digest) rewriteProblems.push(`${what}: tag or digest changed for Go`);
        const d = differences(out, goOut);
        if (d.length > 0) rewriteProblems.push(`${what}: ${d.join('; ')}`);
        const crioBefore = at(answers, image).crio;
        const crioAfter = goOut.crio;
        if (!isError(crioBefore) && isError(crioAfter)) {
          const ours = parseNormalizedNamed(out);
          const nameLength = ours.ok ? `${ours.value.domain}/${ours.value.path}`.length : 0;
          if (crioAfter.error === 'NameTooLong' && nameLength > 255) crioLonger.push(what);
          else rewriteProblems.push(`${what}: CRI-O accepted the image and refuses the rewrite: ${crioAfter.message}`);
        }
      });
    }
    printFigures('reference oracle: corpus', [
      `${inputs.length} inputs (seed ${SEED}), ${valid} valid for Go's ParseNormalizedNamed`,
      `${rewritten} rewrites by ${rewriters.length} rules fixtures x ${NAMESPACES.length} namespaces checked against Go`,
      `${crioLonger.length} rewrites CRI-O refuses because the new name (host and path) is over 255 characters`,
    ]);
    expect(firstOf(parserProblems)).toEqual([]);
    expect(firstOf(rewriteProblems)).toEqual([]);
    // The corpus must exercise both sides: valid references and rewrites, not only garbage.
    expect(valid).toBeGreaterThan(inputs.length / 5);
    expect(rewritten).toBeGreaterThan(inputs.length / 10);
  });

  it('a rules document whose registry is an IPv6 address warns, and Go accepts its results where CRI-O refuses them (the warning says so)', () => {
    const doc = "rules:\n  - {name: hub, match: docker.io, replace: '[fd00::1]:5000/hub'}\n";
    const r = parseRules(doc, {});
    expect(r.ok && r.warnings.map((w) => w.message)).toEqual([expect.stringContaining('CRI-O and Podman refuse them')]);
    if (!r.ok) return;
    const images = ['nginx', 'nginx:1.27', 'bitnami/redis:7.2', `busybox@sha256:${'a'.repeat(64)}`];
    const outs = images.map((i) => {
      const x = r.rewriter.rewrite(i);
      return x.kind === 'rewritten' ? x.rewritten : `not rewritten: ${x.kind}`;
    });
    const answers = askOracle(oracle, [...images, ...outs]);
    expect(answers.map((a) => 'error' in a.normalized)).toEqual(images.map(() => false).concat(outs.map(() => false)));
    expect(answers.map((a) => ('error' in a.crio ? a.crio.error : 'ok'))).toEqual(images.map(() => 'ok').concat(outs.map(() => 'ReferenceInvalidFormat')));
  });

  it('prints the time of ParseNormalizedNamed on the corpus and on its valid references, ours and Go (figures only)', () => {
    const rounds = 5;
    /** Go's and our time for `set`, `rounds` times over; both must find the same number valid. */
    const time = (set: readonly string[]): { ours: number; go: number } => {
      const go = spawnSync(oracle, ['-time', '-rounds', String(rounds)], { input: set.map((s) => JSON.stringify(s)).join('\n') + '\n', encoding: 'utf8' });
      expect(go.status).toBe(0);
      const goFigures = JSON.parse(go.stdout) as { inputs: number; rounds: number; valid: number; ns: number };
      for (const s of set) parseNormalizedNamed(s); // warm-up
      let valid = 0;
      const start = performance.now();
      for (let r = 0; r < rounds; r++) for (const s of set) if (parseNormalizedNamed(s).ok) valid++;
      const ours = (performance.now() - start) * 1e6;
      expect(valid).toBe(goFigures.valid);
      return { ours, go: goFigures.ns };
    };
    const validOnly = inputs.filter((s) => parseNormalizedNamed(s).ok);
    const lines: string[] = [];
    for (const [what, set] of [['the corpus', inputs], ['its valid references', validOnly]] as const) {
      const t = time(set);
      const per = (ns: number): string => `${(ns / (set.length * rounds)).toFixed(0)} ns per input`;
      lines.push(`${what} (${set.length} x ${rounds}): ours (node ${process.version}) ${(t.ours / 1e6).toFixed(1)} ms, ${per(t.ours)}; Go ${(t.go / 1e6).toFixed(1)} ms, ${per(t.go)}`);
    }
    printFigures('reference oracle: ParseNormalizedNamed', lines);
  });
});
