/**
 * The pure parts of `npm run bench:sizes` (bench/lambda-sizes.ts): Lambda's CPU share of a memory
 * size as a cgroup CPU quota, the heap flags Lambda's Node.js bootstrap derives from that size, the
 * figures of the Runtime Interface Emulator's output, the bill (GB-s and $ per million admissions)
 * and the table printed. docs/performance.md, "Lambda memory size, measured under its CPU share",
 * says how they are used.
 */

/** Lambda gives one full vCPU at 1,769 MB and CPU in proportion to memory below it. */
export const FULL_VCPU_MB = 1769;
/** The CFS period used for every quota (the kernel's default). */
export const CPU_PERIOD_US = 100_000;
/** The smallest quota the kernel takes. */
const MIN_QUOTA_US = 1000;

/** us-east-1 on-demand prices, per GB-s of compute and per request. */
export const PRICES = { arm64PerGbS: 0.0000133334, x86PerGbS: 0.0000166667, perRequest: 0.2 / 1_000_000 } as const;

/** The CPU time a function of `memoryMb` gets per CFS period: `period * MB / 1769`, at least 1 ms. */
export function cpuQuotaUs(memoryMb: number, periodUs = CPU_PERIOD_US): number {
  return Math.max(MIN_QUOTA_US, Math.round((periodUs * memoryMb) / FULL_VCPU_MB));
}

/**
 * The heap flags the Lambda Node.js runtime's bootstrap passes for a memory size: a tenth of it as
 * the young generation (two semi-spaces), the rest as the old generation, in whole MB.
 */
export function lambdaNodeMemoryArgs(memoryMb: number): string[] {
  const newSpace = Math.floor(memoryMb / 10);
  return [`--max-semi-space-size=${Math.floor(newSpace / 2)}`, `--max-old-space-size=${memoryMb - newSpace}`];
}

/** One `REPORT` line of the emulator. */
export interface Report {
  readonly requestId: string;
  readonly durationMs: number;
  readonly billedMs: number;
  /** Printed on the first invocation only; the emulator's is not the init's length (see `RieFigures`). */
  readonly initDurationMs?: number;
}

/**
 * What the emulator (`--log-level info`) prints of one execution environment. Its `REPORT` lines
 * do not carry the figures Lambda's do for a cold start: their `Init Duration` is the time to start
 * the runtime process (well under 1 ms), the first `Duration` covers the whole init and the first
 * invocation, and `Max Memory Used` is always the memory size. Its runtime API log lines do:
 * `INIT REPORT(durationMs: X)` runs from the runtime's start to its first request for an event (Lambda's
 * Init Duration) and `INVOKE RTDONE(..., duration: Xms)` is each invocation's own time.
 */
export interface RieFigures {
  readonly reports: readonly Report[];
  readonly initMs: readonly number[];
  readonly invokeMs: readonly number[];
}

const REPORT = /^REPORT RequestId: (\S+)\s+(?:Init Duration: ([\d.]+) ms\s+)?Duration: ([\d.]+) ms\s+Billed Duration: (\d+) ms/gm;
const INIT = /INIT REPORT\(durationMs: ([\d.]+)\)/g;
const RTDONE = /INVOKE RTDONE\(status: success[^)]*?duration: ([\d.]+)ms\)/g;

/** The figures of an emulator's output, in the order printed. */
export function parseRieOutput(text: string): RieFigures {
  const reports: Report[] = [];
  for (const m of text.matchAll(REPORT)) {
    const [, requestId = '', init, duration = '', billed = ''] = m;
    reports.push({ requestId, durationMs: Number(duration), billedMs: Number(billed), ...(init === undefined ? {} : { initDurationMs: Number(init) }) });
  }
  return {
    reports,
    initMs: [...text.matchAll(INIT)].map((m) => Number(m[1])),
    invokeMs: [...text.matchAll(RTDONE)].map((m) => Number(m[1])),
  };
}

/** Lambda bills each invocation's duration rounded up to the millisecond (1 ms at least). */
export function billedMs(durationMs: number): number {
  return Math.max(1, Math.ceil(durationMs));
}

/** Nearest-rank percentile (`p` from 0 to 100); NaN when empty. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1] ?? Number.NaN;
}

export interface Bill {
  /** GB-s per million invocations (memory in GB of 1,024 MB, times the billed seconds). */
  readonly gbSeconds: number;
  /** Compute plus requests, $ per million invocations, arm64 and x86_64. */
  readonly arm64: number;
  readonly x86: number;
}

/**
 * The bill of a million invocations of `memoryMb` whose billed durations average `meanBilledMs`
 * (each rounded up first: `billedMs`), requests included, API Gateway not.
 */
export function billPerMillion(memoryMb: number, meanBilledMs: number): Bill {
  const gbSeconds = 1_000_000 * (memoryMb / 1024) * (meanBilledMs / 1000);
  const requests = 1_000_000 * PRICES.perRequest;
  return { gbSeconds, arm64: gbSeconds * PRICES.arm64PerGbS + requests, x86: gbSeconds * PRICES.x86PerGbS + requests };
}

/** The mean of what Lambda bills for `durations` (each rounded up to the millisecond). */
export function meanBilledMs(durations: readonly number[]): number {
  if (durations.length === 0) return Number.NaN;
  return durations.reduce((sum, d) => sum + billedMs(d), 0) / durations.length;
}

/** Where the CPU controller can be written: a cgroup v2 hierarchy, or v1's `cpu` one. */
export type CpuController = { readonly version: 2; readonly root: string } | { readonly version: 1; readonly root: string };

/**
 * The CPU controller's mount among `/proc/self/mountinfo`'s lines: a cgroup2 mount whose
 * `cgroup.controllers` (read by `controllersOf`) lists `cpu`, else a cgroup (v1) mount with the
 * `cpu` option; undefined when neither is mounted.
 */
export function findCpuController(mountinfo: string, controllersOf: (root: string) => string | undefined): CpuController | undefined {
  let v1: string | undefined;
  for (const line of mountinfo.split('\n')) {
    const [left, right] = line.split(' - ');
    const mountPoint = left?.split(' ')[4];
    const [fsType, , superOptions = ''] = right?.split(' ') ?? [];
    if (mountPoint === undefined || fsType === undefined) continue;
    if (fsType === 'cgroup2' && (controllersOf(mountPoint) ?? '').split(/\s+/).includes('cpu')) return { version: 2, root: mountPoint };
    if (fsType === 'cgroup' && superOptions.split(',').includes('cpu')) v1 ??= mountPoint;
  }
  return v1 === undefined ? undefined : { version: 1, root: v1 };
}

/** One memory size's figures, as the table prints them. */
export interface SizeRow {
  readonly memoryMb: number;
  /** Lambda's Init Duration of each fresh environment. */
  readonly initMs: readonly number[];
  /** Each fresh environment's first answer: the init plus the first invocation. */
  readonly coldMs: readonly number[];
  /** The `REPORT` Duration of every measured warm invocation, each environment called at a pace (one call per period at most). */
  readonly warmMs: readonly number[];
  /** The same, the environment called back to back (a burst of admissions on one environment). */
  readonly burstMs: readonly number[];
  /** The runtime process's peak resident memory, MB (the most of any environment). */
  readonly maxRssMb: number;
  /** The 1-minute load average before and after the size's runs. */
  readonly load: readonly number[];
}

const f = (v: number, digits = 1): string => (Number.isFinite(v) ? v.toFixed(digits) : 'n/a');

/** The Markdown table of `rows`; `timeoutMs` is the webhook's timeoutSeconds the cold start is compared with. */
export function formatTable(rows: readonly SizeRow[], timeoutMs: number): string {
  const head = [
    '| MB | vCPU | init p50 / p90 (n) | first answer p50 / p90 | of timeout (p90) | warm p50 / p90 / p99 (n) | billed mean | peak RSS | GB-s per million | $ per million arm64 / x86 | load |',
    '| ---: | ---: | --- | --- | ---: | --- | ---: | ---: | ---: | --- | --- |',
  ];
  const lines = rows.map((r) => {
    const billed = meanBilledMs(r.warmMs);
    const bill = billPerMillion(r.memoryMb, billed);
    const cold90 = percentile(r.coldMs, 90);
    return [
      '',
      r.memoryMb,
      f(r.memoryMb / FULL_VCPU_MB, 3),
      `${f(percentile(r.initMs, 50))} / ${f(percentile(r.initMs, 90))} ms (${r.initMs.length})`,
      `${f(percentile(r.coldMs, 50))} / ${f(cold90)} ms`,
      `${f((100 * cold90) / timeoutMs)}%`,
      `${f(percentile(r.warmMs, 50), 2)} / ${f(percentile(r.warmMs, 90), 2)} / ${f(percentile(r.warmMs, 99), 2)} ms (${r.warmMs.length})`,
      `${f(billed, 2)} ms`,
      `${f(r.maxRssMb, 0)} MB`,
      f(bill.gbSeconds, 0),
      `$${f(bill.arm64, 3)} / $${f(bill.x86, 3)}`,
      r.load.map((l) => f(l, 2)).join(' to '),
      '',
    ].join(' | ').trim();
  });
  return [...head, ...lines].join('\n');
}

/** The second table: warm invocations back to back, and what a million of them would bill. */
export function formatBurstTable(rows: readonly SizeRow[]): string {
  const head = ['| MB | warm back to back p50 / p90 / p99 (n) | billed mean | GB-s per million | $ per million arm64 / x86 |', '| ---: | --- | ---: | ---: | --- |'];
  const lines = rows.map((r) => {
    const billed = meanBilledMs(r.burstMs);
    const bill = billPerMillion(r.memoryMb, billed);
    const w = r.burstMs;
    return `| ${r.memoryMb} | ${f(percentile(w, 50), 2)} / ${f(percentile(w, 90), 2)} / ${f(percentile(w, 99), 2)} ms (${w.length}) | ${f(billed, 2)} ms | ${f(bill.gbSeconds, 0)} | $${f(bill.arm64, 3)} / $${f(bill.x86, 3)} |`;
  });
  return [...head, ...lines].join('\n');
}
