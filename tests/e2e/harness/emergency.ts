/**
 * Teardown when the normal one cannot run: the process exits early (an uncaught error, jest
 * bailing out) or is interrupted (Ctrl-C, SIGTERM from CI, the terminal closing). Installed in the
 * real process (jest's globalSetup context, or the demo); jest test files see only a copy of
 * `process`, whose handlers never fire.
 *
 * Exit handlers must be synchronous, so this one SIGKILLs every registered process group (newest
 * first) and removes the run folder. A signal first gets the same treatment, then the process exits
 * with 128 + the signal number. Processes killed by SIGKILL, where no handler runs at all, are the
 * watchdog's job (watchdog.mjs).
 */
import { rmSync } from 'node:fs';
import { constants } from 'node:os';
import { killAllSync } from './processes.js';

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

export interface EmergencyOptions {
  readonly runDir: string;
  /** Keep the run folder (logs) for a post-mortem. */
  readonly keep: boolean;
  /** Also handle SIGINT, SIGTERM and SIGHUP (the demo hands them over to its own graceful stop once started). */
  readonly signals: boolean;
}

/** Synchronous last-resort teardown; returns what was still running. */
export function teardownSync(runDir: string, keep: boolean): string[] {
  const killed = killAllSync(runDir);
  if (!keep) rmSync(runDir, { recursive: true, force: true });
  return killed;
}

export interface EmergencyHandlers {
  /** Remove the signal handlers only (the caller handles signals from now on); the exit handler stays. */
  releaseSignals(): void;
  /** Remove every handler (after a normal teardown). */
  uninstall(): void;
}

/** Install the handlers. */
export function installEmergencyTeardown(options: EmergencyOptions): EmergencyHandlers {
  const onExit = (): void => {
    const killed = teardownSync(options.runDir, options.keep);
    if (killed.length > 0) process.stderr.write(`[e2e] exiting before teardown: killed ${killed.join(', ')}\n`);
  };
  const onSignal = (signal: NodeJS.Signals): void => {
    const killed = teardownSync(options.runDir, options.keep);
    process.stderr.write(`\n[e2e] ${signal}: killed ${killed.join(', ') || 'nothing'}; ${options.keep ? `kept ${options.runDir}` : `removed ${options.runDir}`}\n`);
    process.exit(128 + constants.signals[signal]);
  };
  process.on('exit', onExit);
  if (options.signals) for (const s of SIGNALS) process.on(s, onSignal);
  const releaseSignals = (): void => {
    for (const s of SIGNALS) process.off(s, onSignal);
  };
  return {
    releaseSignals,
    uninstall: () => {
      releaseSignals();
      process.off('exit', onExit);
    },
  };
}
