/**
 * Child processes for the integration tests: each started in its own process group (so stopping
 * it also stops what it started: RIE's node runtime), its output kept for assertions and error
 * messages, and killed when the test process exits whatever happened. Also free loopback ports
 * and waiting for a TCP port to accept connections.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { connect, createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

/** Keep at most this much output per process (the end of it). */
const MAX_OUTPUT_CHARS = 4 * 1024 * 1024;

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // already gone
  }
}

/**
 * Runs `"$@"` in a process group of its own and ends that group when its stdin (a pipe from this
 * process) closes: when jest exits, crashes, is killed or interrupted, however that happens (jest
 * runs tests with a copy of `process` whose exit and signal listeners never fire). The exit
 * status is the command's.
 */
const SUPERVISOR = `exec 3<&0
"$@" </dev/null &
child=$!
{ read -r _ <&3; kill -TERM -$$; } &
watcher=$!
wait "$child"
status=$?
kill "$watcher" 2>/dev/null
exit "$status"`;

export interface Group {
  readonly name: string;
  readonly child: ChildProcess;
  /** `performance.now()` right before the spawn. */
  readonly spawnedAt: number;
  /** Everything written to stdout and stderr so far (the last few MB). */
  output(): string;
  /** The exit code or signal once it has exited, else undefined. */
  exited(): string | undefined;
  /** SIGTERM to the group, SIGKILL after `graceMs`; resolves once the leader has exited. */
  stop(graceMs?: number): Promise<void>;
}

export interface SpawnOptions {
  readonly cwd: string;
  readonly env: Readonly<Record<string, string>>;
}

export function spawnGroup(name: string, command: string, args: readonly string[], options: SpawnOptions): Group {
  let output = '';
  let exit: string | undefined;
  const spawnedAt = performance.now();
  const child = spawn('/bin/sh', ['-c', SUPERVISOR, name, command, ...args], { cwd: options.cwd, env: options.env, detached: true, stdio: ['pipe', 'pipe', 'pipe'] });
  const append = (chunk: Buffer): void => {
    output += chunk.toString('utf8');
    if (output.length > MAX_OUTPUT_CHARS) output = output.slice(-MAX_OUTPUT_CHARS);
  };
  child.stdout.on('data', append);
  child.stderr.on('data', append);
  const exitedPromise = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      exit = signal ?? `exit code ${String(code)}`;
      resolve();
    });
    child.once('error', (e) => {
      exit = `spawn error: ${e.message}`;
      output += `\n[${name}: ${e.message}]\n`;
      resolve();
    });
  });
  return {
    name,
    child,
    spawnedAt,
    output: () => output,
    exited: () => exit,
    async stop(graceMs = 5000): Promise<void> {
      if (exit === undefined) {
        killGroup(child, 'SIGTERM');
        const timer = setTimeout(() => {
          killGroup(child, 'SIGKILL');
        }, graceMs);
        await exitedPromise;
        clearTimeout(timer);
      }
      // The leader is gone; make sure nothing it started is left in its group.
      killGroup(child, 'SIGKILL');
      child.stdin.destroy();
    },
  };
}

/** A port on 127.0.0.1 that was free a moment ago. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => {
        if (address !== null && typeof address === 'object') resolve(address.port);
        else reject(new Error('no port'));
      });
    });
  });
}

/** `count` distinct free ports. */
export async function freePorts(count: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < count) ports.add(await freePort());
  return [...ports];
}

/** Whether something accepts a connection on 127.0.0.1:`port` now. */
export function tryConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => {
      socket.destroy();
      resolve(false);
    });
  });
}

/** Wait until 127.0.0.1:port accepts connections; fails early when the process exits. */
export async function waitForPort(group: Group, port: number, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    if (await tryConnect(port)) return;
    const exit = group.exited();
    if (exit !== undefined) throw new Error(`${group.name} exited (${exit}) before listening on 127.0.0.1:${port}:\n${group.output().slice(-4000)}`);
    if (performance.now() > deadline) throw new Error(`${group.name} did not listen on 127.0.0.1:${port} within ${timeoutMs} ms:\n${group.output().slice(-4000)}`);
    await sleep(10);
  }
}

/** The JSON objects among the lines of a process's output (a line may have a prefix before `{`). */
export function jsonLines(text: string): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const line of text.split('\n')) {
    const start = line.indexOf('{');
    if (start < 0) continue;
    try {
      const value: unknown = JSON.parse(line.slice(start));
      if (typeof value === 'object' && value !== null && !Array.isArray(value)) out.push(value as Record<string, unknown>);
    } catch {
      // not a JSON line
    }
  }
  return out;
}

/** Poll `probe` until it returns a value, at most `timeoutMs`; the error names `what`. */
export async function eventually<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>, intervalMs = 200): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(intervalMs);
  }
}
