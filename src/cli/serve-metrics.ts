/**
 * `serve --metrics-listen ADDR`: Prometheus metrics (src/observability/prometheus.ts) on a plain HTTP
 * server of their own (src/serve/metrics-server.ts). ./serve.ts loads this module with import(), and
 * only when the flag is given: without it nothing of it, nor of prom-client, is loaded or run.
 *
 * - One process (`--workers 1`): it counts, and serves its own registry.
 * - `--workers N`: each worker counts in its registry; the primary serves their sum, asking every
 *   worker at each scrape over the cluster's IPC channel (prom-client's AggregatorRegistry: its
 *   messages have a `type`, serve's own a `kind`, and each side ignores the other's). Counters are
 *   summed; prom-client's process metrics aggregate as it defines (most summed, the event loop lag
 *   averaged, the start time left out). A worker that dies takes its counts with it: the sum drops,
 *   which Prometheus' rate() reads as a counter reset.
 * - A scrape waits for the workers at most SCRAPE_TIMEOUT_MS (one that was killed, or is starting
 *   and not yet listening, never answers), then gets a 503; the next scrape asks again.
 */
import cluster from 'node:cluster';
import { AggregatorRegistry } from 'prom-client';
import type { Log } from '../observability/log.js';
import { type PrometheusMetrics, prometheusMetrics } from '../observability/prometheus.js';
import { type RunningMetricsServer, startMetricsServer } from '../serve/metrics-server.js';

/**
 * How long the primary waits for every worker's metrics. A worker answers in milliseconds, even
 * busy with a large review; below prom-client's own 5 s and Prometheus' default scrape timeout (10 s).
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

/**
 * The metrics of a `--workers` worker: its registry answers the primary's requests from now on.
 * prom-client answers with `process.send` and no callback: were the primary gone meanwhile, the
 * failed send would be an 'error' event on `process`, thrown for want of a listener, and the worker
 * would crash in its graceful shutdown.
 */
export function workerMetrics(): PrometheusMetrics {
  const metrics = prometheusMetrics();
  AggregatorRegistry.setRegistries([metrics.registry]);
  // Its constructor adds the listener that answers the primary (once per process).
  new AggregatorRegistry();
  process.on('error', () => undefined);
  return metrics;
}

/** Serves one process's registry. */
export function serveProcessMetrics(metrics: PrometheusMetrics, at: MetricsAddress, log: Log): Promise<RunningMetricsServer> {
  const { registry } = metrics;
  return startMetricsServer({ ...at, log, collect: async () => ({ contentType: registry.contentType, text: await registry.metrics() }) });
}

/**
 * Serves the sum of the workers' registries, from the primary (before it forks them). prom-client
 * asks each worker with `send` and no callback: one whose channel fails under it (killed between
 * the check that it is connected and the write) would be an 'error' event on its Worker, thrown in
 * the primary for want of a listener, taking every worker with it; each forked worker gets one.
 */
export function servePrimaryMetrics(at: MetricsAddress, log: Log, timeoutMs = SCRAPE_TIMEOUT_MS): Promise<RunningMetricsServer> {
  cluster.on('fork', (worker) => {
    worker.on('error', () => undefined);
  });
  const aggregator = new AggregatorRegistry();
  const collect = async (): Promise<{ contentType: string; text: string }> => {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        reject(new Error(`a worker did not answer within ${String(timeoutMs)} ms`));
      }, timeoutMs);
    });
    try {
      // The race handles clusterMetrics' own later rejection (prom-client's 5 s): never unhandled.
      const text = await Promise.race([aggregator.clusterMetrics(), late]);
      return { contentType: aggregator.contentType, text };
    } finally {
      clearTimeout(timer);
    }
  };
  return startMetricsServer({ ...at, log, collect });
}
