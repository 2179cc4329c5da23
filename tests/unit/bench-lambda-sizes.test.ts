/**
 * The pure parts of `npm run bench:sizes` (bench/lib/lambda-sizes.ts): the CPU quota of a memory
 * size, the heap flags of Lambda's Node.js bootstrap, the emulator's lines read back, the bill, and
 * where the cgroup CPU controller is mounted. The run itself needs root and cgroups: not a unit test.
 */
import { describe, expect, it } from '@jest/globals';
import {
  billedMs,
  billPerMillion,
  cpuQuotaUs,
  findCpuController,
  formatBurstTable,
  formatTable,
  lambdaNodeMemoryArgs,
  meanBilledMs,
  parseRieOutput,
  percentile,
} from '../../bench/lib/lambda-sizes.js';

// What aws-lambda-rie (--log-level info) printed for one environment: a cold and a warm invocation.
const RIE_OUTPUT = [
  '07 Dec 2026 17:29:49,598 [INFO] (rapid) INIT START(type: on-demand, phase: init)',
  '07 Dec 2026 17:29:49,645 [INFO] (rapid) INIT RTDONE(status: success)',
  '07 Dec 2026 17:29:49,645 [INFO] (rapid) INIT REPORT(durationMs: 47.303000)',
  '07 Dec 2026 17:29:49,645 [INFO] (rapid) INVOKE START(requestId: 8382aa23-8884-4a38-9d5f-a320bf657f46)',
  '{"level":"INFO","message":"admission reviewed","durationMs":1.2}',
  '07 Dec 2026 17:29:49,653 [INFO] (rapid) INVOKE RTDONE(status: success, produced bytes: 0, duration: 7.929000ms)',
  'END RequestId: 8382aa23-8884-4a38-9d5f-a320bf657f46',
  'REPORT RequestId: 8382aa23-8884-4a38-9d5f-a320bf657f46\tInit Duration: 0.07 ms\tDuration: 55.41 ms\tBilled Duration: 56 ms\tMemory Size: 256 MB\tMax Memory Used: 256 MB\t',
  '07 Dec 2026 17:29:49,661 [INFO] (rapid) INVOKE START(requestId: 053dd636-9c6f-45fd-8ec8-eb0f00e45a92)',
  '07 Dec 2026 17:29:49,662 [INFO] (rapid) INVOKE RTDONE(status: success, produced bytes: 0, duration: 1.374000ms)',
  'END RequestId: 053dd636-9c6f-45fd-8ec8-eb0f00e45a92',
  'REPORT RequestId: 053dd636-9c6f-45fd-8ec8-eb0f00e45a92\tDuration: 1.50 ms\tBilled Duration: 2 ms\tMemory Size: 256 MB\tMax Memory Used: 256 MB\t',
].join('\n');

describe('bench:sizes, the CPU share of a memory size', () => {
  it.each([
    [128, 7236],
    [256, 14471],
    [512, 28943],
    [1024, 57886],
    [1769, 100_000],
    [3538, 200_000],
  ])('%i MB gets %i µs of CPU per 100 ms period', (mb, quota) => {
    expect(cpuQuotaUs(mb)).toBe(quota);
  });
  it('never asks for less than the 1 ms the kernel takes', () => {
    expect(cpuQuotaUs(1)).toBe(1000);
  });
  it.each([
    [128, ['--max-semi-space-size=6', '--max-old-space-size=116']],
    [256, ['--max-semi-space-size=12', '--max-old-space-size=231']],
    [1769, ['--max-semi-space-size=88', '--max-old-space-size=1593']],
  ])('%i MB: the heap flags of the Lambda Node.js bootstrap', (mb, flags) => {
    expect(lambdaNodeMemoryArgs(mb)).toEqual(flags);
  });
});

describe("bench:sizes, the emulator's lines", () => {
  const figures = parseRieOutput(RIE_OUTPUT);
  it('reads every REPORT line, the first with its (emulator) Init Duration', () => {
    expect(figures.reports).toEqual([
      { requestId: '8382aa23-8884-4a38-9d5f-a320bf657f46', initDurationMs: 0.07, durationMs: 55.41, billedMs: 56 },
      { requestId: '053dd636-9c6f-45fd-8ec8-eb0f00e45a92', durationMs: 1.5, billedMs: 2 },
    ]);
  });
  it("takes the init's length from INIT REPORT and each invocation's from INVOKE RTDONE", () => {
    expect(figures.initMs).toEqual([47.303]);
    expect(figures.invokeMs).toEqual([7.929, 1.374]);
  });
  it('reads nothing from lines that only look alike (a log line, a failed invocation)', () => {
    const other = parseRieOutput('{"message":"REPORT RequestId: x Duration: 5 ms"}\n(rapid) INVOKE RTDONE(status: error, duration: 9.0ms)\n');
    expect(other).toEqual({ reports: [], initMs: [], invokeMs: [] });
  });
});

describe('bench:sizes, the bill', () => {
  it.each([
    [0, 1],
    [0.2, 1],
    [1, 1],
    [1.01, 2],
    [3.9, 4],
  ])('a %f ms invocation is billed %i ms', (d, billed) => {
    expect(billedMs(d)).toBe(billed);
  });
  it('averages what each invocation is billed, not the billed mean duration', () => {
    // Mean duration 1.05 ms (billed 2 ms if it were rounded once); each rounded up: 2 and 1.
    expect(meanBilledMs([1.1, 1.0])).toBe(1.5);
    expect(meanBilledMs([])).toBeNaN();
  });
  it('prices a million 4 ms invocations at 256 MB as the README does (1,000 GB-s), requests included', () => {
    const bill = billPerMillion(256, 4);
    expect(bill.gbSeconds).toBeCloseTo(1000, 9);
    expect(bill.arm64).toBeCloseTo(1000 * 0.0000133334 + 0.2, 9);
    expect(bill.x86).toBeCloseTo(1000 * 0.0000166667 + 0.2, 9);
  });
  it('nearest-rank percentiles', () => {
    const v = [5, 1, 4, 2, 3, 6, 7, 8, 9, 10];
    expect([percentile(v, 50), percentile(v, 90), percentile(v, 99), percentile(v, 0)]).toEqual([5, 9, 10, 1]);
    expect(percentile([], 50)).toBeNaN();
  });
  it('prints one row per size, the cold start as a share of the timeout', () => {
    const row = { memoryMb: 256, initMs: [270, 280], coldMs: [360, 400], warmMs: [1.1, 1.0], burstMs: [1.5, 70], maxRssMb: 57.4, load: [0.5, 1] };
    const table = formatTable([row], 5000);
    expect(table.split('\n')).toHaveLength(3);
    expect(table).toContain('| 256 | 0.145 | 270.0 / 280.0 ms (2) | 360.0 / 400.0 ms | 8.0% | 1.00 / 1.10 / 1.10 ms (2) | 1.50 ms | 57 MB | 375 | $0.205 / $0.206 | 0.50 to 1.00 |');
    expect(formatBurstTable([row])).toContain('| 256 | 1.50 / 70.00 / 70.00 ms (2) | 36.00 ms | 9000 | $0.320 / $0.350 |');
  });
});

describe('bench:sizes, where the CPU controller is', () => {
  const V1 = [
    '30 25 0:26 / /sys/fs/cgroup/cpu rw,relatime shared:9 - cgroup cgroup rw,cpu',
    '31 25 0:27 / /sys/fs/cgroup/cpuacct rw,relatime shared:10 - cgroup cgroup rw,cpuacct',
    '40 25 0:36 / /sys/fs/cgroup/unified rw,relatime shared:19 - cgroup2 cgroup2 rw',
  ].join('\n');
  it('a v1 cpu hierarchy when the v2 one has no cpu controller (a hybrid mount)', () => {
    expect(findCpuController(V1, () => 'memory pids\n')).toEqual({ version: 1, root: '/sys/fs/cgroup/cpu' });
  });
  it('the v2 hierarchy when it lists cpu', () => {
    expect(findCpuController('29 23 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n', (root) => (root === '/sys/fs/cgroup' ? 'cpuset cpu io memory pids\n' : undefined))).toEqual({ version: 2, root: '/sys/fs/cgroup' });
  });
  it('neither: undefined (the bench then skips)', () => {
    expect(findCpuController('22 1 0:21 / /proc rw - proc proc rw\n', () => undefined)).toBeUndefined();
    expect(findCpuController('31 25 0:27 / /sys/fs/cgroup/cpuacct rw - cgroup cgroup rw,cpuacct\n', () => undefined)).toBeUndefined();
  });
});
