/**
 * What the tests read of another process (a `serve` primary and its workers): its children, its
 * resident memory, the TCP ports it listens on. From Linux's /proc where there is one, else from
 * `ps` and `lsof` (macOS, where contributors run npm test too): the same answers either way.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';

/** True where /proc describes processes (Linux); `procfs: false` asks for the ps/lsof way anyway. */
const useProc = (procfs: boolean | undefined): boolean => procfs ?? existsSync('/proc/self/status');

/** The child processes of `pid` (a primary's workers). */
export function childrenOf(pid: number, procfs?: boolean): number[] {
  if (useProc(procfs)) {
    return readFileSync(`/proc/${String(pid)}/task/${String(pid)}/children`, 'utf8').trim().split(/\s+/).filter((s) => s !== '').map(Number);
  }
  return execFileSync('ps', ['-A', '-o', 'pid=,ppid='], { encoding: 'utf8' })
    .split('\n')
    .map((l) => l.trim().split(/\s+/).map(Number))
    .filter(([, ppid]) => ppid === pid)
    .map(([child]) => child ?? 0);
}

/** The resident memory of `pid` now, in KiB (VmRSS; ps's rss). */
export function rssKiB(pid: number, procfs?: boolean): number {
  if (useProc(procfs)) return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${String(pid)}/status`, 'utf8'))?.[1]);
  return Number(execFileSync('ps', ['-o', 'rss=', '-p', String(pid)], { encoding: 'utf8' }).trim());
}

/** The TCP ports `pid` listens on, sorted: its sockets' inodes in the listening state (lsof's -sTCP:LISTEN). */
export function listeningPorts(pid: number, procfs?: boolean): number[] {
  if (!useProc(procfs)) {
    const out = execFileSync('lsof', ['-nP', '-a', '-p', String(pid), '-iTCP', '-sTCP:LISTEN', '-Fn'], { encoding: 'utf8' });
    return [...new Set(out.split('\n').flatMap((l) => /^n.*:(\d+)$/.exec(l)?.[1] ?? []).map(Number))].sort((a, b) => a - b);
  }
  const inodes = new Set(
    readdirSync(`/proc/${String(pid)}/fd`).flatMap((fd) => {
      try {
        return [/^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${String(pid)}/fd/${fd}`))?.[1] ?? ''];
      } catch {
        return [];
      }
    }),
  );
  const ports = ['tcp', 'tcp6'].flatMap((t) =>
    readFileSync(`/proc/${String(pid)}/net/${t}`, 'utf8')
      .split('\n')
      .slice(1)
      .map((l) => l.trim().split(/\s+/))
      .filter((f) => f[3] === '0A' && inodes.has(f[9] ?? ''))
      .map((f) => Number.parseInt(f[1]?.split(':')[1] ?? '', 16)),
  );
  return ports.sort((a, b) => a - b);
}
