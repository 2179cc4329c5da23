/**
 * The rate limit of serve's noisy log lines (src/serve/log-throttle.ts): its windows are on a
 * monotonic clock, so a step of the wall clock neither holds lines for the step's length nor
 * lets a flood through.
 */
import { afterEach, describe, expect, it, jest } from '@jest/globals';
import type { LogEntry } from '../../src/observability/log.js';
import { throttled } from '../../src/serve/log-throttle.js';

const line = (msg: string): LogEntry => ({ level: 'info', msg });

describe('throttled', () => {
  afterEach(() => {
    jest.useRealTimers();
  });

  it('logs at most max lines per message and window, then says how many it left out', () => {
    let t = 0;
    const out: LogEntry[] = [];
    const log = throttled((e) => out.push(e), 2, 1000, () => t);
    for (let i = 0; i < 5; i++) log(line('a'));
    log(line('b'));
    expect(out.map((e) => e.msg)).toEqual(['a', 'a', 'b']);
    t = 999;
    log(line('a'));
    expect(out).toHaveLength(3);
    t = 1000;
    log(line('a'));
    expect(out.slice(3)).toEqual([{ level: 'warn', msg: 'log lines suppressed', suppressedMsg: 'a', suppressed: 4, windowMs: 1000 }, line('a')]);
  });

  it.each([
    ['back by an hour (NTP correcting a clock that ran ahead)', -3_600_000],
    ['forward by an hour (a VM resumed)', 3_600_000],
  ])('a wall clock stepped %s: the next window opens after windowMs of real time, no sooner, no later', (_title, step) => {
    jest.useFakeTimers({ now: Date.UTC(2026, 0, 1) });
    const out: LogEntry[] = [];
    const log = throttled((e) => out.push(e), 2, 10_000);
    for (let i = 0; i < 3; i++) log(line('tls handshake failed'));
    expect(out).toHaveLength(2);
    // The wall clock steps; the monotonic clock (performance.now) does not.
    jest.setSystemTime(Date.now() + step);
    log(line('tls handshake failed'));
    expect(out).toHaveLength(2);
    jest.advanceTimersByTime(10_000);
    log(line('tls handshake failed'));
    expect(out.map((e) => e.msg)).toEqual(['tls handshake failed', 'tls handshake failed', 'log lines suppressed', 'tls handshake failed']);
  });
});
