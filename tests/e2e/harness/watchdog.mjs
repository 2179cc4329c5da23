// The end-to-end environment's last line of defence, run as its own detached process:
//   node watchdog.mjs PARENT_PID RUN_DIR [--keep]
// Every half second it checks that PARENT_PID (jest, or the demo) still runs. When the parent is
// gone without having torn the environment down (SIGKILL, a crash, an OOM kill: cases where no
// exit or signal handler runs), it SIGKILLs every process group in RUN_DIR/processes.json, newest
// first, removes RUN_DIR (unless --keep), and exits. When RUN_DIR disappears (the normal teardown
// removed it) it just exits; the normal teardown also SIGTERMs it. Plain JavaScript, no
// dependencies: it must run with `node` alone.
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';

const [parentArg, runDir, flag] = process.argv.slice(2);
const parent = Number(parentArg);
if (!Number.isInteger(parent) || parent <= 0 || runDir === undefined || (flag !== undefined && flag !== '--keep')) {
  console.error('usage: node watchdog.mjs PARENT_PID RUN_DIR [--keep]');
  process.exit(64);
}
const keep = flag === '--keep';

/** Running and not a zombie (a dead parent stays a zombie until its own parent reaps it). */
function alive(pid) {
  try {
    process.kill(pid, 0);
  } catch (e) {
    return e.code === 'EPERM';
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.charAt(stat.lastIndexOf(')') + 2);
    return state !== 'Z' && state !== 'X';
  } catch {
    return !existsSync('/proc/self/stat');
  }
}

function records() {
  try {
    const parsed = JSON.parse(readFileSync(join(runDir, 'processes.json'), 'utf8'));
    return Array.isArray(parsed) ? parsed.filter((r) => Number.isInteger(r?.pid) && r.pid > 0) : [];
  } catch {
    return [];
  }
}

function cleanUp() {
  const list = records().reverse();
  for (const r of list) {
    try {
      process.kill(-r.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  if (!keep) rmSync(runDir, { recursive: true, force: true });
  console.error(`[e2e watchdog] parent ${parent} is gone: killed ${list.map((r) => `${r.name} (${r.pid})`).join(', ') || 'nothing'}, ${keep ? 'kept' : 'removed'} ${runDir}`);
}

const timer = setInterval(() => {
  if (!existsSync(runDir)) {
    clearInterval(timer);
    return;
  }
  if (!alive(parent)) {
    clearInterval(timer);
    cleanUp();
  }
}, 500);
