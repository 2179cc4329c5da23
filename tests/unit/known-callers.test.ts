/**
 * The callers known to have shown the token (src/serve/known-callers.ts), as one process keeps
 * them and tells the others: each address known for its time, what is told batched and bounded
 * whatever a caller does (one address's every request, thousands of addresses), and what another
 * process sends read defensively.
 */
import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import { KnownCallers, MAX_KNOWN_CALLERS, parseSharedCallers, SHARE_INTERVAL_MS, type SharedCaller } from '../../src/serve/known-callers.js';

const TTL = 130_000;
const REFRESH = 10_000;

describe('KnownCallers', () => {
  let t: number;
  let told: SharedCaller[][];
  const make = (tell = true): KnownCallers =>
    new KnownCallers({ ttlMs: TTL, refreshMs: REFRESH, now: () => t, ...(tell ? { tell: (c: readonly SharedCaller[]) => { told.push([...c]); } } : {}) });
  /** Time passes, for the clock and the timers alike. */
  const pass = (ms: number): void => {
    t += ms;
    jest.advanceTimersByTime(ms);
  };

  beforeEach(() => {
    jest.useFakeTimers();
    t = 1_000;
    told = [];
  });
  afterEach(() => {
    jest.useRealTimers();
  });

  it('knows an address for ttlMs after it was last seen', () => {
    const known = make(false);
    expect(known.knows('10.0.0.1')).toBe(false);
    known.seen('10.0.0.1');
    pass(TTL - 1);
    expect(known.knows('10.0.0.1')).toBe(true);
    known.seen('10.0.0.1');
    pass(TTL - 1);
    expect(known.knows('10.0.0.1')).toBe(true);
    pass(1);
    expect(known.knows('10.0.0.1')).toBe(false);
    expect(known.knows('10.0.0.2')).toBe(false);
  });

  it("tells one address once per refreshMs, however many requests show the token: not a message per request", () => {
    const known = make();
    for (let i = 0; i < 10_000; i++) known.seen('10.0.0.1');
    expect(told).toEqual([]);
    pass(SHARE_INTERVAL_MS);
    expect(told).toEqual([[['10.0.0.1', TTL - SHARE_INTERVAL_MS]]]);
    // Seen on every request for two refresh intervals: told again once per interval.
    for (let ms = 0; ms < 2 * REFRESH; ms += 50) {
      known.seen('10.0.0.1');
      pass(50);
    }
    expect(told).toHaveLength(3);
    expect(told.every((m) => m.length === 1)).toBe(true);
  });

  it('tells what was seen in one interval in one message, at most MAX_KNOWN_CALLERS addresses, and keeps at most that many', () => {
    const known = make();
    for (let i = 0; i < 10_000; i++) known.seen(`10.0.${String(i >> 8)}.${String(i & 255)}`);
    pass(SHARE_INTERVAL_MS);
    // The latest addresses, the ones kept, are told: none of those seen first and dropped crowds them out.
    expect(told).toHaveLength(1);
    expect(told[0]?.map(([address]) => address)).toEqual(known.snapshot().map(([address]) => address));
    expect(known.size).toBe(MAX_KNOWN_CALLERS);
    // The addresses seen last are kept.
    expect(known.knows('10.0.39.15')).toBe(true);
    expect(known.knows('10.0.0.0')).toBe(false);
  });

  it('drops the least recently seen address when full: one seen again stays', () => {
    const known = make(false);
    known.seen('192.0.2.1');
    for (let i = 0; i < MAX_KNOWN_CALLERS - 1; i++) known.seen(`10.1.0.${String(i)}`);
    known.seen('192.0.2.1');
    known.seen('10.2.0.1');
    expect(known.size).toBe(MAX_KNOWN_CALLERS);
    expect(known.knows('192.0.2.1')).toBe(true);
    expect(known.knows('10.1.0.0')).toBe(false);
    expect(known.knows('10.2.0.1')).toBe(true);
  });

  it("learns another process's addresses for as long as it says, at most ttlMs, without telling them on", () => {
    const known = make();
    known.learn([['10.0.0.1', 5_000], ['10.0.0.2', 10 * TTL]]);
    pass(SHARE_INTERVAL_MS);
    expect(told).toEqual([]);
    expect(known.knows('10.0.0.1')).toBe(true);
    pass(5_000);
    expect(known.knows('10.0.0.1')).toBe(false);
    pass(TTL - 5_000 - SHARE_INTERVAL_MS - 1);
    expect(known.knows('10.0.0.2')).toBe(true);
    pass(1);
    expect(known.knows('10.0.0.2')).toBe(false);
  });

  it('relays what it learns (the primary) once per refreshMs per address, however many processes tell it', () => {
    const known = make();
    for (let worker = 0; worker < 8; worker++) known.learn([['10.0.0.1', TTL], ['10.0.0.2', TTL]], true);
    pass(SHARE_INTERVAL_MS);
    expect(told).toEqual([[['10.0.0.1', TTL - SHARE_INTERVAL_MS], ['10.0.0.2', TTL - SHARE_INTERVAL_MS]]]);
    pass(REFRESH - SHARE_INTERVAL_MS - 1);
    known.learn([['10.0.0.1', TTL]], true);
    pass(SHARE_INTERVAL_MS);
    expect(told).toHaveLength(1);
    known.learn([['10.0.0.1', TTL]], true);
    pass(SHARE_INTERVAL_MS);
    expect(told).toHaveLength(2);
  });

  it('gives every address known now with the time it has left (what a replacement worker is given)', () => {
    const known = make(false);
    known.seen('10.0.0.1');
    pass(1_000);
    known.learn([['10.0.0.2', 2_000]]);
    pass(1_000);
    expect(known.snapshot()).toEqual([['10.0.0.1', TTL - 2_000], ['10.0.0.2', 1_000]]);
    pass(1_000);
    expect(known.snapshot()).toEqual([['10.0.0.1', TTL - 3_000]]);
  });

  it('tells nothing after close', () => {
    const known = make();
    known.seen('10.0.0.1');
    known.close();
    pass(10 * SHARE_INTERVAL_MS);
    expect(told).toEqual([]);
  });
});

describe('parseSharedCallers (what another process sent)', () => {
  it.each([
    ['not a list', { a: 1 }, []],
    ['null', null, []],
    ['entries of the wrong shape or types left out', [['10.0.0.1', 5], ['10.0.0.2'], [1, 5], ['', 5], ['10.0.0.3', -1], ['10.0.0.4', Number.NaN], ['x'.repeat(65), 5], 'str', null], [['10.0.0.1', 5]]],
    ['an IPv6 address with its zone', [['fe80::1%eth0', 5]], [['fe80::1%eth0', 5]]],
  ])('%s', (_, value, expected) => {
    expect(parseSharedCallers(value)).toEqual(expected);
  });

  it(`reads at most ${String(MAX_KNOWN_CALLERS)} entries`, () => {
    const many = Array.from({ length: 10_000 }, (_, i) => [`10.0.${String(i >> 8)}.${String(i & 255)}`, 1_000]);
    expect(parseSharedCallers(many)).toHaveLength(MAX_KNOWN_CALLERS);
  });
});
