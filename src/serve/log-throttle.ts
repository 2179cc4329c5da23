/**
 * Rate limit for log lines a client can provoke at will (failed handshakes, timeouts, dropped
 * connections), so a scanner cannot flood the log.
 */
import type { Log } from '../observability/log.js';

/**
 * At most `max` lines per message per window of `windowMs`; at the start of the next window with
 * that message, one line says how many were left out. The windows are on a monotonic clock
 * (`now`, default `performance.now()`): on the wall clock, a step back (NTP correcting a clock
 * that ran ahead, a VM resumed) held every line of a message for as long as the step, hours of
 * `tls handshake failed` (the hint of a wrong caBundle) missing from the log.
 */
export function throttled(log: Log, max: number, windowMs: number, now: () => number = () => performance.now()): Log {
  const windows = new Map<string, { start: number; count: number; suppressed: number }>();
  return (entry) => {
    const t = now();
    let w = windows.get(entry.msg);
    if (w === undefined || t - w.start >= windowMs) {
      if (w !== undefined && w.suppressed > 0) log({ level: 'warn', msg: 'log lines suppressed', suppressedMsg: entry.msg, suppressed: w.suppressed, windowMs });
      w = { start: t, count: 0, suppressed: 0 };
      windows.set(entry.msg, w);
    }
    if (w.count < max) {
      w.count++;
      log(entry);
    } else {
      w.suppressed++;
    }
  };
}
