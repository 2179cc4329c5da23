/**
 * The messages of the shared callers (src/cli/serve-callers.ts) in this process: the primary's side
 * with stand-in workers on node:cluster's events, the worker's side on the process's. The real
 * processes are in serve-workers-callers.test.ts; here, what a worker may send that is not what it
 * should, and the bounds of what the primary sends.
 */
import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import cluster, { type Worker } from 'node:cluster';
import { primaryCallers, workerCallerExchange } from '../../src/cli/serve-callers.js';
import { SHARE_INTERVAL_MS, type SharedCaller } from '../../src/serve/known-callers.js';

interface StandIn {
  readonly worker: Worker;
  readonly sent: unknown[];
}

function standIn(): StandIn {
  const sent: unknown[] = [];
  const worker = { isConnected: () => true, send: (m: unknown) => { sent.push(m); return true; } } as unknown as Worker;
  return { worker, sent };
}

const told = (s: StandIn): string[][] => s.sent.map((m) => ((m as { callers: SharedCaller[] }).callers).map(([address]) => address));

describe('primaryCallers', () => {
  beforeEach(() => {
    jest.useFakeTimers();
  });
  afterEach(() => {
    jest.useRealTimers();
  });

  it('tells every listening worker what one told, gives a worker that starts later the list, and stops at exit and close', () => {
    const listeners = cluster.listenerCount('message');
    const primary = primaryCallers();
    const [a, b, c] = [standIn(), standIn(), standIn()];
    try {
      cluster.emit('message', a.worker, { kind: 'callers-ready' });
      cluster.emit('message', b.worker, { kind: 'callers-ready' });
      // Nothing known yet: nothing given.
      expect([a.sent, b.sent]).toEqual([[], []]);
      cluster.emit('message', a.worker, { kind: 'callers', callers: [['10.0.0.1', 130_000], ['10.0.0.2'], 'x', [7, 1]] });
      jest.advanceTimersByTime(SHARE_INTERVAL_MS);
      expect([told(a), told(b)]).toEqual([[['10.0.0.1']], [['10.0.0.1']]]);
      // A worker told 1,000 times of the same address (by every other worker) relays it once.
      for (let i = 0; i < 1_000; i++) cluster.emit('message', b.worker, { kind: 'callers', callers: [['10.0.0.1', 130_000]] });
      jest.advanceTimersByTime(SHARE_INTERVAL_MS);
      expect(b.sent).toHaveLength(1);
      // A replacement is given the list at once.
      cluster.emit('message', c.worker, { kind: 'callers-ready' });
      expect(told(c)).toEqual([['10.0.0.1']]);
      cluster.emit('exit', b.worker, 0, null);
      cluster.emit('message', a.worker, { kind: 'callers', callers: [['10.0.0.3', 130_000]] });
      jest.advanceTimersByTime(SHARE_INTERVAL_MS);
      expect([told(a).length, told(b).length, told(c)]).toEqual([2, 1, [['10.0.0.1'], ['10.0.0.3']]]);
      // Not a message of the protocol: ignored.
      for (const m of [null, 'callers', { kind: 'callers' }, { kind: 'callers', callers: 'x' }]) cluster.emit('message', a.worker, m);
      jest.advanceTimersByTime(SHARE_INTERVAL_MS);
      expect(told(a)).toHaveLength(2);
    } finally {
      primary.close();
    }
    expect(cluster.listenerCount('message')).toBe(listeners);
  });
});

describe('workerCallerExchange', () => {
  it('learns what the primary tells, checked, until stopped; telling without a primary does nothing', () => {
    const exchange = workerCallerExchange();
    const learned: (readonly SharedCaller[])[] = [];
    const stop = exchange.listen((callers) => learned.push(callers));
    // What the IPC channel does with a message from the primary.
    const events: NodeJS.EventEmitter = process;
    const emit = (m: unknown): boolean => events.emit('message', m);
    emit({ kind: 'callers', callers: [['10.0.0.1', 5_000], ['10.0.0.2', 'soon']] });
    emit({ kind: 'shutdown', signal: 'SIGTERM' });
    stop();
    emit({ kind: 'callers', callers: [['10.0.0.3', 5_000]] });
    expect(learned).toEqual([[['10.0.0.1', 5_000]]]);
    expect(() => { exchange.tell([['10.0.0.1', 5_000]]); }).not.toThrow();
  });
});
