/** Percentiles and the units the benchmark prints. */

/** Samples kept for a latency distribution, sorted once when first read. */
export class Samples {
  private readonly values: number[] = [];
  private sorted = true;

  add(v: number): void {
    this.values.push(v);
    this.sorted = false;
  }

  addAll(other: Samples): void {
    for (const v of other.values) this.values.push(v);
    this.sorted = false;
  }

  get count(): number {
    return this.values.length;
  }

  /** The nearest-rank percentile (`p` from 0 to 100); NaN when empty. */
  percentile(p: number): number {
    if (!this.sorted) {
      this.values.sort((a, b) => a - b);
      this.sorted = true;
    }
    if (this.values.length === 0) return Number.NaN;
    const rank = Math.min(this.values.length - 1, Math.max(0, Math.ceil((p / 100) * this.values.length) - 1));
    return this.values[rank] ?? Number.NaN;
  }

  get median(): number {
    return this.percentile(50);
  }

  get p99(): number {
    return this.percentile(99);
  }

  /** Points of the empirical CDF, at most `points` of them (for a chart). */
  cdf(points = 200): { value: number; fraction: number }[] {
    const out: { value: number; fraction: number }[] = [];
    for (let i = 1; i <= points; i++) {
      const fraction = i / points;
      out.push({ value: this.percentile(fraction * 100), fraction });
    }
    return out;
  }
}

const num = (v: number, digits: number): string => (Number.isFinite(v) ? v.toFixed(digits) : 'n/a');

/** Microseconds, with a sensible number of digits. */
export function us(v: number): string {
  return Number.isFinite(v) ? `${num(v, v < 10 ? 2 : v < 100 ? 1 : 0)} µs` : 'n/a';
}

export function ms(v: number): string {
  return Number.isFinite(v) ? `${num(v, v < 10 ? 2 : v < 100 ? 1 : 0)} ms` : 'n/a';
}

export function bytes(v: number): string {
  if (!Number.isFinite(v)) return 'n/a';
  if (v < 1024) return `${v.toFixed(0)} B`;
  if (v < 1024 * 1024) return `${(v / 1024).toFixed(1)} KiB`;
  return `${(v / 1024 / 1024).toFixed(2)} MiB`;
}

export function rate(v: number): string {
  return Number.isFinite(v) ? `${Math.round(v).toLocaleString('en-US')} req/s` : 'n/a';
}
