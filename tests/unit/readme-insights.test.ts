/**
 * README's CloudWatch Logs Insights queries ("Logs and metrics") against the lines the webhook
 * writes: every field a query names is on an `admission reviewed` line (lists flattened as Logs
 * Insights reads them, `rewritten.0.from`), the fields it adds up or compares with numbers are
 * numbers there, and the strings it compares with are values the lines take. The lines come from
 * the handler on sample events (rewrites, an invalid image, rules not loaded) and from
 * `reviewFields` for a review whose rewrite was withheld (existence checks).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import type { ReviewReport } from '../../src/core/admission.js';
import { EXAMPLE_RULES } from '../../src/cli/invoke.js';
import { createHandler } from '../../src/lambda/handler.js';
import { review } from '../../src/core/review.js';
import { OUTCOMES, REVIEW_LOG_MESSAGE, reviewFields } from '../../src/observability/telemetry.js';
import { captureObservability, EVENT_TOKEN, eventReview, type JsonObject, loadEvent, withBody } from '../helpers/events.js';
import { REPO_ROOT } from '../helpers/fixtures.js';
import { podReview } from '../helpers/admission-review.js';
import { rewriterFrom } from '../helpers/rules.js';

/** The queries of README's ```text block after "Queries for CloudWatch Logs Insights", split at their comment lines. */
function readmeQueries(): string[] {
  const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
  const block = /Queries for CloudWatch Logs Insights[\s\S]*?```text\n([\s\S]*?)```/.exec(readme)?.[1];
  if (block === undefined) throw new Error('README: no Logs Insights queries');
  return block
    .split(/^#.*\n/m)
    .map((q) => q.trim())
    .filter((q) => q !== '');
}

const KEYWORDS = new Set(['filter', 'stats', 'fields', 'sort', 'limit', 'by', 'as', 'and', 'or', 'not', 'desc', 'asc', 'count', 'sum', 'avg', 'pct', 'max', 'min', 'bin']);

interface Use {
  readonly fields: Set<string>;
  /** Fields added up, averaged or compared with a number. */
  readonly numeric: Set<string>;
  /** `field = "text"` comparisons. */
  readonly equals: [string, string][];
}

function uses(query: string): Use {
  const equals = [...query.matchAll(/([A-Za-z_][\w.]*)\s*=\s*"([^"]*)"/g)].map((m): [string, string] => [m[1] ?? '', m[2] ?? '']);
  const numeric = new Set([...query.matchAll(/\b(?:sum|avg|pct|max|min)\(([A-Za-z_][\w.]*)/g), ...query.matchAll(/([A-Za-z_][\w.]*)\s*[<>]=?\s*\d/g)].map((m) => m[1] ?? ''));
  const aliases = new Set([...query.matchAll(/\bas\s+([A-Za-z_]\w*)/g)].map((m) => m[1] ?? ''));
  const words = query
    .replace(/"[^"]*"/g, ' ')
    .replace(/@\w+/g, ' ')
    .match(/\b[A-Za-z_][\w.]*/g) ?? [];
  const fields = new Set(words.filter((w) => !KEYWORDS.has(w) && !aliases.has(w) && !/^\d/.test(w)));
  return { fields, numeric, equals };
}

/** A line's fields as Logs Insights names them: nested keys and list indexes joined by dots. */
function flatten(value: unknown, prefix = '', out = new Map<string, unknown>()): Map<string, unknown> {
  if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) flatten(v, prefix === '' ? k : `${prefix}.${k}`, out);
  } else {
    out.set(prefix, value);
  }
  return out;
}

async function reviewLines(): Promise<Map<string, unknown>[]> {
  const obs = captureObservability();
  const rules = { current: () => Promise.resolve({ ok: true as const, rewriter: rewriterFrom(EXAMPLE_RULES), source: 'example' }) };
  const handler = createHandler({ rules, token: EVENT_TOKEN, logger: obs.logger, metrics: obs.metrics });
  for (const name of ['rest-pod-v1.json', 'rest-deployment-v1.json', 'rest-pod-v1beta1-demo.json']) await handler(loadEvent(name));
  const invalid = eventReview(loadEvent('rest-pod-v1.json'));
  const spec = ((invalid['request'] as JsonObject)['object'] as JsonObject)['spec'] as { containers: JsonObject[] };
  spec.containers.push({ name: 'bad', image: 'Not A Reference' });
  await handler(withBody(loadEvent('rest-pod-v1.json'), invalid));
  const noRules = createHandler({ rules: { current: () => Promise.resolve({ ok: false as const, reason: 'rules parameter not read yet' }) }, token: EVENT_TOKEN, logger: obs.logger, metrics: obs.metrics });
  await noRules(loadEvent('rest-pod-v1.json'));
  const lines: JsonObject[] = obs.logs().filter((l) => l['message'] === REVIEW_LOG_MESSAGE);
  // A rewrite withheld by the existence checks (src/verify): its line as the handler makes it.
  const reviewed = review(podReview({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'app' }, spec: { containers: [{ name: 'app', image: 'gcr.io/app:1' }] } }, { namespace: 'team-a' }), rewriterFrom(EXAMPLE_RULES));
  if (!reviewed.ok) throw new Error('the review failed');
  const [rewrite] = reviewed.report.rewrites;
  if (rewrite === undefined) throw new Error('no rewrite to withhold');
  const report: ReviewReport = { ...reviewed.report, rewrites: [], withheld: [{ ...rewrite, reason: 'not found in asia.gcr.io' }] };
  const withheld = { message: REVIEW_LOG_MESSAGE, ...reviewFields(report, 'unchanged').fields };
  return [...lines, withheld].map((l) => flatten(l));
}

describe("README's Logs Insights queries", () => {
  const queries = readmeQueries();

  it('are there, four of them, each on the review line', () => {
    expect(queries).toHaveLength(4);
    for (const q of queries) expect(q.startsWith(`filter message = "${REVIEW_LOG_MESSAGE}"`)).toBe(true);
  });

  it('name only fields the review lines have, numbers where they add or compare numbers, and values the lines take', async () => {
    const lines = await reviewLines();
    expect(lines.length).toBeGreaterThanOrEqual(6);
    const seen = (field: string): unknown[] => lines.filter((l) => l.has(field)).map((l) => l.get(field));
    for (const q of queries) {
      const { fields, numeric, equals } = uses(q);
      expect(fields.size).toBeGreaterThan(0);
      for (const f of fields) expect({ query: q.split('\n')[0], field: f, present: seen(f).length > 0 }).toEqual({ query: q.split('\n')[0], field: f, present: true });
      for (const f of numeric) expect({ field: f, numbers: seen(f).every((v) => typeof v === 'number') }).toEqual({ field: f, numbers: true });
      for (const [f, v] of equals) {
        if (f === 'outcome') expect(OUTCOMES).toContain(v);
        expect({ field: f, value: v, seen: seen(f).includes(v) }).toEqual({ field: f, value: v, seen: true });
      }
    }
  });
});
