/**
 * `serve --workers`' default, the CPUs available to the process (src/cli/cpu-limit.ts): its
 * affinity's, at most its cgroup's CPU limit in whole CPUs, read from cgroup v2 and v1 files as
 * containers and hosts lay them out (an injected reader stands for the file system).
 */
import { availableParallelism } from 'node:os';
import { describe, expect, it } from '@jest/globals';
import { availableCpus, cgroupCpuLimit, type ReadText } from '../../src/cli/cpu-limit.js';
import { benchWorkers } from '../../bench/lib/https.js';

const files =
  (map: Readonly<Record<string, string>>): ReadText =>
  (path) =>
    map[path];

describe('availableCpus', () => {
  it('a cgroup v2 container limited to one CPU (Kubernetes limits.cpu: 1) on a 32-CPU node: 1', () => {
    const read = files({ '/proc/self/cgroup': '0::/\n', '/sys/fs/cgroup/cpu.max': '100000 100000\n' });
    expect(cgroupCpuLimit(read)).toBe(1);
    expect(availableCpus(read, 32)).toBe(1);
  });

  it('no limit (cpu.max "max"): every CPU the process may run on', () => {
    expect(availableCpus(files({ '/proc/self/cgroup': '0::/\n', '/sys/fs/cgroup/cpu.max': 'max 100000\n' }), 32)).toBe(32);
  });

  it('the smallest limit of the cgroup and those above it, in whole CPUs', () => {
    const read = files({
      '/proc/self/cgroup': '0::/kubepods.slice/pod1/ctr\n',
      '/sys/fs/cgroup/kubepods.slice/pod1/ctr/cpu.max': 'max 100000',
      '/sys/fs/cgroup/kubepods.slice/pod1/cpu.max': '250000 100000',
      '/sys/fs/cgroup/kubepods.slice/cpu.max': '3000000 100000',
      '/sys/fs/cgroup/cpu.max': 'max 100000',
    });
    expect(cgroupCpuLimit(read)).toBe(2.5);
    expect(availableCpus(read, 32)).toBe(2);
  });

  it('a limit under one CPU gives one worker', () => {
    expect(availableCpus(files({ '/proc/self/cgroup': '0::/\n', '/sys/fs/cgroup/cpu.max': '50000 100000' }), 32)).toBe(1);
  });

  it('cgroup v1 in a container without its own namespace: the host path is absent, the mount root is the container', () => {
    const read = files({
      '/proc/self/cgroup': '11:memory:/kubepods/burstable/pod1/abc\n4:cpu,cpuacct:/kubepods/burstable/pod1/abc\n0::/\n',
      '/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us': '200000\n',
      '/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us': '100000\n',
    });
    expect(availableCpus(read, 32)).toBe(2);
  });

  it('cgroup v1 without a quota (-1), or no cgroup files at all: every CPU the process may run on', () => {
    const v1 = files({ '/proc/self/cgroup': '1:cpu:/\n2:cpuacct:/\n0::/\n', '/sys/fs/cgroup/cpu/cpu.cfs_quota_us': '-1\n', '/sys/fs/cgroup/cpu/cpu.cfs_period_us': '100000\n' });
    expect(cgroupCpuLimit(v1)).toBeUndefined();
    expect(availableCpus(v1, 4)).toBe(4);
    expect(availableCpus(files({}), 4)).toBe(4);
  });

  it('cgroup v1: only the cpu controller\'s line is read, not cpuset\'s or cpuacct\'s of their own', () => {
    const read = files({
      '/proc/self/cgroup': '7:cpuset:/pinned\n6:cpuacct:/acct\n4:cpu:/\n0::/\n',
      '/sys/fs/cgroup/cpuset/pinned/cpu.cfs_quota_us': '100000\n',
      '/sys/fs/cgroup/cpuset/pinned/cpu.cfs_period_us': '100000\n',
      '/sys/fs/cgroup/cpuacct/acct/cpu.cfs_quota_us': '100000\n',
      '/sys/fs/cgroup/cpuacct/acct/cpu.cfs_period_us': '100000\n',
      '/sys/fs/cgroup/cpu/cpu.cfs_quota_us': '300000\n',
      '/sys/fs/cgroup/cpu/cpu.cfs_period_us': '100000\n',
    });
    expect(cgroupCpuLimit(read)).toBe(3);
    expect(availableCpus(read, 32)).toBe(3);
  });

  it.each([
    ['blanks around a line of /proc/self/cgroup', ' 0::/ \r\n', '200000 100000', 2],
    ['several blanks between quota and period', '0::/\n', '200000 \t 100000\n', 2],
    ['a quota of 0', '0::/\n', '0 100000', undefined],
    ['a period of 0', '0::/\n', '200000 0', undefined],
    ['a quota written as an exponent', '0::/\n', '2e5 100000', undefined],
    ['a period in hexadecimal', '0::/\n', '200000 0x186a0', undefined],
    ['a negative quota', '0::/\n', '-200000 100000', undefined],
  ])('cgroup v2 with %s: limit %s', (_why, cgroup, cpuMax, limit) => {
    const read = files({ '/proc/self/cgroup': cgroup, '/sys/fs/cgroup/cpu.max': cpuMax });
    expect(cgroupCpuLimit(read)).toBe(limit);
    expect(availableCpus(read, 32)).toBe(limit ?? 32);
  });

  it('a limit above the CPUs the process may run on changes nothing', () => {
    expect(availableCpus(files({ '/proc/self/cgroup': '0::/\n', '/sys/fs/cgroup/cpu.max': '800000 100000' }), 2)).toBe(2);
  });

  it('on this machine: at most availableParallelism(), at least 1', () => {
    const n = availableCpus();
    expect(n).toBeGreaterThanOrEqual(1);
    expect(n).toBeLessThanOrEqual(availableParallelism());
  });
});

describe("the bench's workers (bench/lib/https.ts)", () => {
  it("default to serve's own default, the cgroup's CPU limit counted (availableParallelism alone ignored it)", () => {
    const limited = files({ '/proc/self/cgroup': '0::/\n', '/sys/fs/cgroup/cpu.max': '100000 100000\n' });
    expect(benchWorkers(undefined, limited, 32)).toBe(1);
    expect(benchWorkers(undefined)).toBe(availableCpus());
    expect(benchWorkers('3')).toBe(3);
    expect(() => benchWorkers('0')).toThrow('--workers must be a positive integer: 0');
  });
});
