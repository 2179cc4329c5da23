/** Measured figures: percentiles, and printing them where a person running the suite sees them. */
import { readFileSync, statSync } from 'node:fs';
import { gzipSync } from 'node:zlib';

/** Nearest-rank percentile of `values` (not sorted in place). */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1] ?? Number.NaN;
}

export const ms = (v: number): string => `${v.toFixed(v < 10 ? 2 : 1)} ms`;

export function bundleSize(path: string): string {
  const bytes = statSync(path).size;
  const gzip = gzipSync(readFileSync(path)).length;
  return `${path}: ${bytes} bytes (${(bytes / 1024).toFixed(1)} KiB), ${gzip} bytes gzipped`;
}

/** Straight to stdout, not through jest's console (which adds a stack location to every line). */
export function printFigures(title: string, lines: readonly string[]): void {
  process.stdout.write(`\n[figures] ${title}\n${lines.map((l) => `[figures]   ${l}\n`).join('')}`);
}

/** The `Duration` of each RIE `REPORT` line (what Lambda would bill, before rounding up). */
export function reportedDurations(output: string): number[] {
  return [...output.matchAll(/^REPORT RequestId: \S+\s+(?:Init Duration: [\d.]+ ms\s+)?Duration: ([\d.]+) ms/gm)].map((m) => Number(m[1]));
}
