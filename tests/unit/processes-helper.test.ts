/**
 * tests/helpers/processes.ts: the ps and lsof way (macOS, where there is no /proc) gives the answers
 * the /proc way gives, for a process with two children that listens on two ports. And
 * tests/helpers/platform.ts: on Linux (CI) no test is skipped for what the machine lacks.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { canBindAll, hasDevFull, hasUtilLinuxScript } from '../helpers/platform.js';
import { childrenOf, listeningPorts, rssKiB } from '../helpers/processes.js';

/** A node that starts two sleeping children, listens on two ports of 127.0.0.1 and prints them. */
const PARENT = `
const { spawn } = require('node:child_process');
const net = require('node:net');
for (let i = 0; i < 2; i++) spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
const a = net.createServer().listen(0, '127.0.0.1', () => {
  const b = net.createServer().listen(0, '127.0.0.1', () => console.log(JSON.stringify([a.address().port, b.address().port])));
});
`;

let parent: ChildProcess;
let ports: number[] = [];
beforeAll(async () => {
  parent = spawn(process.execPath, ['-e', PARENT], { stdio: ['ignore', 'pipe', 'inherit'] });
  ports = await new Promise<number[]>((resolve) => parent.stdout?.once('data', (d: Buffer) => { resolve(JSON.parse(d.toString()) as number[]); }));
});
afterAll(() => {
  for (const pid of childrenOf(parent.pid ?? 0)) process.kill(pid, 'SIGKILL');
  parent.kill('SIGKILL');
});

describe('tests/helpers/processes.ts', () => {
  const procfs = existsSync('/proc/self/status');

  it('childrenOf: the two children, by ps as by /proc', () => {
    const byPs = childrenOf(parent.pid ?? 0, false).sort();
    expect(byPs).toHaveLength(2);
    if (procfs) expect(childrenOf(parent.pid ?? 0, true).sort()).toEqual(byPs);
  });

  it('listeningPorts: the two ports, by lsof as by /proc', () => {
    const expected = [...ports].sort((a, b) => a - b);
    if (procfs) expect(listeningPorts(parent.pid ?? 0, true)).toEqual(expected);
    // lsof is not on every Linux machine (macOS always has it).
    if (!procfs || existsSync('/usr/bin/lsof') || existsSync('/usr/sbin/lsof')) expect(listeningPorts(parent.pid ?? 0, false)).toEqual(expected);
  });

  it('rssKiB: a node process resident in tens of MiB, by ps as by /proc', () => {
    const byPs = rssKiB(parent.pid ?? 0, false);
    expect(byPs).toBeGreaterThan(10 * 1024);
    expect(byPs).toBeLessThan(500 * 1024);
    if (procfs) expect(Math.abs(rssKiB(parent.pid ?? 0, true) - byPs)).toBeLessThan(8 * 1024);
  });
});

describe('tests/helpers/platform.ts', () => {
  it('on Linux, has /dev/full, util-linux script and the loopback addresses beside 127.0.0.1: the tests it guards run there', async () => {
    const linux = process.platform === 'linux';
    expect({ devFull: hasDevFull || !linux, script: hasUtilLinuxScript || !linux, loopbacks: (await canBindAll(['127.0.0.2', '127.0.0.6'])) || !linux }).toEqual({ devFull: true, script: true, loopbacks: true });
  });
});
