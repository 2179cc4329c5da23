/**
 * Counts the I/O Node starts while a piece of work runs: every socket, DNS request and file
 * operation is an async resource of one of IO_TYPES, seen by an async_hooks `init` hook. Used to
 * show that a review without a verifying rule does no I/O (tests/unit/verify-no-io.test.ts, bench
 * section 2). A hook slows every promise: never leave it on while timing.
 */
import { createHook } from 'node:async_hooks';

/** The async resource types of sockets, DNS requests and file operations. */
export const IO_TYPES: ReadonlySet<string> = new Set([
  'TCPWRAP', 'TCPCONNECTWRAP', 'TLSWRAP', 'PIPEWRAP', 'PIPECONNECTWRAP', 'UDPWRAP', 'HTTPCLIENTREQUEST',
  'GETADDRINFOREQWRAP', 'GETNAMEINFOREQWRAP', 'QUERYWRAP', 'FSREQCALLBACK', 'FSREQPROMISE', 'FILEHANDLE', 'STATWATCHER', 'FSEVENTWRAP',
]);

/** The I/O resources started while `work` runs, by type (empty when none). */
export async function ioDuring(work: () => Promise<void>): Promise<Record<string, number>> {
  const seen: Record<string, number> = {};
  const hook = createHook({
    init(_id, type) {
      if (IO_TYPES.has(type)) seen[type] = (seen[type] ?? 0) + 1;
    },
  });
  hook.enable();
  try {
    await work();
  } finally {
    hook.disable();
  }
  return seen;
}
