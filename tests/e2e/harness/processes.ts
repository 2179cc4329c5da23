/**
 * The processes of the end-to-end environment (etcd, kube-apiserver, kube-controller-manager,
 * `serve`): each started detached, so it leads its own process group and stopping the group stops
 * everything it started; its stdout and stderr go to log files, which outlive this process's pipes
 * and which tests (and a person) read; and it is recorded in a registry file in the run folder.
 *
 * The registry is what makes teardown complete whoever does it and whichever context started the
 * process: jest's globalTeardown, the exit and signal handlers of emergency.ts, the watchdog (when
 * this process dies without running any handler), or a test that restarts the webhook. Teardown
 * goes through it in reverse start order.
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export interface ProcessRecord {
  readonly name: string;
  /** Also the process group id (the process is its group's leader). */
  readonly pid: number;
  /** Where its stderr (and its stdout, unless `stdout` is set) goes. */
  readonly log: string;
  readonly stdout?: string | undefined;
}

const REGISTRY_FILE = 'processes.json';

function registryPath(runDir: string): string {
  return join(runDir, REGISTRY_FILE);
}

function isRecordLike(v: unknown): v is ProcessRecord {
  if (typeof v !== 'object' || v === null) return false;
  const r = v as Partial<Record<keyof ProcessRecord, unknown>>;
  return typeof r.name === 'string' && typeof r.pid === 'number' && typeof r.log === 'string';
}

/** The running processes of a run folder, in start order (empty when the folder is gone). */
export function readRegistry(runDir: string): ProcessRecord[] {
  let text: string;
  try {
    text = readFileSync(registryPath(runDir), 'utf8');
  } catch {
    return [];
  }
  const parsed: unknown = JSON.parse(text);
  return Array.isArray(parsed) ? parsed.filter(isRecordLike) : [];
}

function writeRegistry(runDir: string, records: readonly ProcessRecord[]): void {
  // Write then rename: the watchdog may read it at any moment.
  const tmp = `${registryPath(runDir)}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(records, null, 2)}\n`);
  renameSync(tmp, registryPath(runDir));
}

export function initRegistry(runDir: string): void {
  writeRegistry(runDir, []);
}

function register(runDir: string, record: ProcessRecord): void {
  writeRegistry(runDir, [...readRegistry(runDir), record]);
}

function unregister(runDir: string, pid: number): void {
  if (!existsSync(registryPath(runDir))) return;
  writeRegistry(
    runDir,
    readRegistry(runDir).filter((r) => r.pid !== pid),
  );
}

const HAVE_PROC = existsSync('/proc/self/stat');

/** The 'exit' of each child spawned by this module instance: it fires once Node has reaped it. */
const reaped = new Map<number, Promise<void>>();

/**
 * Whether `pid` is running. A zombie (exited, not yet reaped) counts as gone: a process that
 * exited is reaped only when its parent's event loop turns, and teardown may be synchronous.
 */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
  if (!HAVE_PROC) return true;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.charAt(stat.lastIndexOf(')') + 2);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

/** Signal a whole process group; false when there is no such group any more. */
export function signalGroup(pgid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch {
    return false;
  }
}

export interface StartOptions {
  readonly runDir: string;
  readonly name: string;
  readonly command: string;
  readonly args: readonly string[];
  readonly cwd: string;
  readonly env: Readonly<Record<string, string>>;
  readonly log: string;
  /** A separate file for stdout (e.g. `serve`'s "listening" line); default: the log. */
  readonly stdout?: string | undefined;
}

export interface ManagedProcess extends ProcessRecord {
  /** `performance.now()` right before the spawn. */
  readonly spawnedAt: number;
  /** Undefined while it runs, else how it ended (`exit code 1`, `SIGKILL`). */
  exited(): string | undefined;
  /** The end of its log, for error messages. */
  tail(lines?: number): string;
}

/** The last `lines` lines of a file ('' when it cannot be read). */
export function tailFile(file: string, lines = 40): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-lines - 1).join('\n');
  } catch {
    return '';
  }
}

/**
 * Start a process detached (its own process group), its output in files, registered in the run's
 * registry. Resolves once it is spawned; rejects when it cannot be (command not found).
 */
export async function startProcess(options: StartOptions): Promise<ManagedProcess> {
  const logFd = openSync(options.log, 'a');
  const outFd = options.stdout === undefined ? logFd : openSync(options.stdout, 'a');
  const spawnedAt = performance.now();
  let exit: string | undefined;
  const child = spawn(options.command, [...options.args], {
    cwd: options.cwd,
    env: options.env,
    detached: true,
    stdio: ['ignore', outFd, logFd],
  });
  try {
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', (e) => {
        reject(new Error(`cannot start ${options.name} (${options.command}): ${e.message}`, { cause: e }));
      });
    });
  } finally {
    // The child has its own copies of the descriptors.
    closeSync(logFd);
    if (outFd !== logFd) closeSync(outFd);
  }
  const pid = child.pid;
  if (pid === undefined) throw new Error(`cannot start ${options.name}: no pid`);
  reaped.set(
    pid,
    new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        exit = signal ?? `exit code ${String(code)}`;
        resolve();
      });
    }),
  );
  const record: ProcessRecord = { name: options.name, pid, log: options.log, stdout: options.stdout };
  register(options.runDir, record);
  return {
    ...record,
    spawnedAt,
    exited: () => exit ?? (isAlive(pid) ? undefined : 'exited'),
    tail: (lines?: number) => tailFile(options.log, lines),
  };
}

/**
 * Stop a registered process group: SIGTERM, SIGKILL after `graceMs`, then SIGKILL to whatever is
 * left in its group; resolves once the leader is gone and unregisters it. Works for processes
 * started by any context of this process (it only needs the pid).
 */
export async function stopProcess(runDir: string, record: Pick<ProcessRecord, 'pid' | 'name'>, graceMs = 10_000, signal: NodeJS.Signals = 'SIGTERM'): Promise<'stopped' | 'killed' | 'gone'> {
  const { pid } = record;
  let how: 'stopped' | 'killed' | 'gone' = 'gone';
  if (isAlive(pid)) {
    how = signal === 'SIGKILL' ? 'killed' : 'stopped';
    signalGroup(pid, signal);
    const deadline = performance.now() + graceMs;
    while (isAlive(pid) && performance.now() < deadline) await sleep(25);
    if (isAlive(pid)) {
      how = 'killed';
      signalGroup(pid, 'SIGKILL');
      const hardDeadline = performance.now() + 10_000;
      while (isAlive(pid) && performance.now() < hardDeadline) await sleep(25);
      if (isAlive(pid)) throw new Error(`${record.name} (pid ${pid}) survived SIGKILL for 10 s`);
    }
  }
  signalGroup(pid, 'SIGKILL');
  // A child of this context: wait (briefly) until Node has reaped it, so that a process that exits
  // right after the teardown leaves no zombie behind. The bound's timer is cleared once the child
  // is reaped: left pending, it kept jest's process alive for 2 s after the last teardown.
  const exited = reaped.get(pid);
  if (exited !== undefined) {
    const bound = new AbortController();
    await Promise.race([exited, sleep(2000, undefined, { signal: bound.signal }).catch(() => undefined)]);
    bound.abort();
  }
  reaped.delete(pid);
  unregister(runDir, pid);
  return how;
}

/**
 * The last resort, synchronous (exit handlers cannot wait): SIGKILL every registered group, newest
 * first. Returns the names of the processes that were still running.
 */
export function killAllSync(runDir: string): string[] {
  const killed: string[] = [];
  for (const record of readRegistry(runDir).reverse()) {
    if (isAlive(record.pid)) killed.push(`${record.name} (pid ${record.pid})`);
    signalGroup(record.pid, 'SIGKILL');
  }
  if (existsSync(registryPath(runDir))) writeRegistry(runDir, []);
  return killed;
}
