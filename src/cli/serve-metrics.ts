/**
 * `serve --metrics-listen ADDR`: Prometheus metrics (src/observability/prometheus.ts) on a plain HTTP
 * server of their own (src/serve/metrics-server.ts). ./serve.ts loads this module with import(), and
 * only when the flag is given: without it nothing of it, nor of prom-client, is loaded or run.
 *
 * - One process (`--workers 1`): it counts, and serves its own registry.
 * - `--workers N`: each worker counts in its registry; the primary serves their sum, asking every
 *   worker that said it can answer (`metrics-ready`) at each scrape over the cluster's IPC channel,
 *   and summing with prom-client's `AggregatorRegistry.aggregate` (counters summed; its process
 *   metrics as it defines: most summed, the event loop lag averaged, the start time left out).
 * - A worker that exits keeps its counters and histograms in the sum, as last scraped: without them
 *   the sum dropped, which Prometheus' rate() reads as a counter reset and counts the remaining
 *   workers' totals again as new (a spike on every dashboard and alert at each worker's death). What
 *   it counted after the last scrape is lost, as a restarted process's counts are. Its gauges go.
 * - The primary adds its own count of the workers that died while serving, each replaced
 *   (`image_rewriter_worker_exits_total`): a worker the OOM killer ends restarts no container, so
 *   neither Kubernetes nor the workers' own counts show it.
 * - A scrape waits for the workers at most SCRAPE_TIMEOUT_MS (one that is stuck, or killed
 *   meanwhile), then gets a 503; the next scrape asks again.
 *
 * Not prom-client's `clusterMetrics()`: it asks every connected worker, one still starting included
 * (which never answers: a 503 for each scrape during a replacement's start), keeps nothing of a
 * worker once it exits, and holds a timed-out request forever.
 */
import cluster, { type Worker } from 'node:cluster';
import { AggregatorRegistry, Counter, Registry } from 'prom-client';
import type { Log } from '../observability/log.js';
import { type PrometheusMetrics, prometheusMetrics } from '../observability/prometheus.js';
import { type RunningMetricsServer, startMetricsServer } from '../serve/metrics-server.js';

/**
 * How long the primary waits for every worker's metrics. A worker answers in milliseconds, even
 * busy with a large review; below Prometheus' default scrape timeout (10 s).
 */
export const SCRAPE_TIMEOUT_MS = 3000;

export interface MetricsAddress {
  readonly host: string | undefined;
  readonly port: number;
}

/** The metrics of a process that serves them itself (`--workers 1`). */
export function processMetrics(): PrometheusMetrics {
  return prometheusMetrics();
}

/** One metric of a registry's `getMetricsAsJSON()`: what a worker sends. */
type MetricJson = Awaited<ReturnType<Registry['getMetricsAsJSON']>>[number];

/** The messages of the metrics protocol (serve's own messages have other kinds, prom-client's none). */
interface ReadyMessage {
  readonly kind: 'metrics-ready';
}
interface RequestMessage {
  readonly kind: 'metrics-request';
  readonly id: number;
}
interface ResponseMessage {
  readonly kind: 'metrics';
  readonly id: number;
  readonly metrics: MetricJson[];
}
const isKind = <T extends { kind: string }>(m: unknown, kind: T['kind']): m is T => typeof m === 'object' && m !== null && (m as { kind?: unknown }).kind === kind;

/** A failed send (the other side is gone) is nothing to report: the callback takes its error. */
const ignore = (): void => undefined;

/**
 * The metrics of a `--workers` worker: its registry answers the primary's requests from now on,
 * which it tells the primary (`metrics-ready`).
 */
export function workerMetrics(): PrometheusMetrics {
  const metrics = prometheusMetrics();
  process.on('message', (m: unknown) => {
    if (!isKind<RequestMessage>(m, 'metrics-request')) return;
    void metrics.registry.getMetricsAsJSON().then((list) => {
      const answer: ResponseMessage = { kind: 'metrics', id: m.id, metrics: list };
      process.send?.(answer, undefined, {}, ignore);
    }, ignore);
  });
  const ready: ReadyMessage = { kind: 'metrics-ready' };
  process.send?.(ready, undefined, {}, ignore);
  return metrics;
}

/** Only what can only grow is kept of a worker that exited: its counters and histograms. */
const growing = (list: readonly MetricJson[]): MetricJson[] => list.filter((m) => String(m.type) === 'counter' || String(m.type) === 'histogram');

/** Past this many exited workers' snapshots, they are summed into one (a crash loop's are many). */
const MAX_RETIRED = 8;

/** What the primary's metrics are told by its supervisor (./serve-workers.ts). */
export interface WorkerEvents {
  /** A worker died while serving (a signal, the OOM killer, a crash), and is replaced. */
  readonly workerExited: () => void;
}

/**
 * The workers' sum, as the primary collects it: `collect` asks every ready worker; `exited` keeps
 * a worker's last snapshot's counters and histograms; the primary's own counter is added. Exported
 * for its tests.
 */
export function clusterCollector(timeoutMs = SCRAPE_TIMEOUT_MS): WorkerEvents & { readonly collect: () => Promise<string>; readonly contentType: string; readonly close: () => void } {
  const own = new Registry();
  const exits = new Counter({ name: 'image_rewriter_worker_exits_total', help: 'Workers that died while serving, each replaced (the log\'s "worker exited; starting another"); with --workers only.', registers: [own] });
  const ready = new Set<Worker>();
  const last = new Map<Worker, MetricJson[]>();
  let retired: MetricJson[][] = [];
  const pending = new Map<number, { readonly waiting: Set<Worker>; readonly got: Map<Worker, MetricJson[]>; readonly done: () => void }>();
  let nextId = 0;

  const onMessage = (worker: Worker, m: unknown): void => {
    if (isKind<ReadyMessage>(m, 'metrics-ready')) ready.add(worker);
    else if (isKind<ResponseMessage>(m, 'metrics')) {
      const request = pending.get(m.id);
      if (!request?.waiting.delete(worker)) return;
      request.got.set(worker, m.metrics);
      if (request.waiting.size === 0) request.done();
    }
  };
  const onExit = (worker: Worker): void => {
    ready.delete(worker);
    const snapshot = last.get(worker);
    last.delete(worker);
    if (snapshot !== undefined) retired.push(growing(snapshot));
    // A scrape waiting for it answers without it (its last snapshot, if any, is in `retired`).
    for (const request of pending.values()) if (request.waiting.delete(worker) && request.waiting.size === 0) request.done();
  };
  const onFork = (worker: Worker): void => {
    // Its 'error' (a send on a channel that closed under it) would be thrown in the primary for
    // want of a listener, taking every worker with it.
    worker.on('error', ignore);
  };
  cluster.on('message', onMessage);
  cluster.on('exit', onExit);
  cluster.on('fork', onFork);

  const collect = async (): Promise<string> => {
    if (retired.length > MAX_RETIRED) {
      const all = retired;
      const folded = await AggregatorRegistry.aggregate(all).getMetricsAsJSON();
      // Workers that exited meanwhile stay after the folded ones.
      retired = [folded, ...retired.slice(all.length)];
    }
    const id = nextId++;
    const waiting = new Set([...ready].filter((w) => w.isConnected()));
    const got = new Map<Worker, MetricJson[]>();
    let timer: NodeJS.Timeout | undefined;
    try {
      await new Promise<void>((resolve, reject) => {
        if (waiting.size === 0) {
          resolve();
          return;
        }
        pending.set(id, { waiting, got, done: resolve });
        timer = setTimeout(() => {
          reject(new Error(`${String(waiting.size)} worker(s) did not answer within ${String(timeoutMs)} ms`));
        }, timeoutMs);
        const message: RequestMessage = { kind: 'metrics-request', id };
        for (const w of waiting) w.send(message, undefined, ignore);
      });
    } finally {
      clearTimeout(timer);
      pending.delete(id);
    }
    // A worker that exited during the scrape is in `retired` already, as of its snapshot before:
    // its answer now is left out (counted twice, then dropped at the next scrape). A ready worker
    // not asked (its channel closing) counts as last scraped, until its exit retires it.
    const sum: MetricJson[][] = [...retired, await own.getMetricsAsJSON()];
    for (const w of ready) {
      const list = got.get(w);
      if (list !== undefined) last.set(w, list);
      const counted = list ?? (last.has(w) ? growing(last.get(w) ?? []) : undefined);
      if (counted !== undefined) sum.push(counted);
    }
    return AggregatorRegistry.aggregate(sum).metrics();
  };
  const close = (): void => {
    cluster.off('message', onMessage);
    cluster.off('exit', onExit);
    cluster.off('fork', onFork);
  };
  return { collect, contentType: new AggregatorRegistry().contentType, close, workerExited: () => { exits.inc(); } };
}

/** Serves one process's registry. */
export function serveProcessMetrics(metrics: PrometheusMetrics, at: MetricsAddress, log: Log): Promise<RunningMetricsServer> {
  const { registry } = metrics;
  return startMetricsServer({ ...at, log, collect: async () => ({ contentType: registry.contentType, text: await registry.metrics() }) });
}

/** Serves the sum of the workers' registries (./serve.ts starts it in the primary before it forks them). */
export async function servePrimaryMetrics(at: MetricsAddress, log: Log, timeoutMs = SCRAPE_TIMEOUT_MS): Promise<RunningMetricsServer & WorkerEvents> {
  const workers = clusterCollector(timeoutMs);
  const server = await startMetricsServer({ ...at, log, collect: async () => ({ contentType: workers.contentType, text: await workers.collect() }) }).catch((e: unknown) => {
    workers.close();
    throw e;
  });
  return {
    address: server.address,
    port: server.port,
    workerExited: workers.workerExited,
    close: async () => {
      workers.close();
      await server.close();
    },
  };
}
