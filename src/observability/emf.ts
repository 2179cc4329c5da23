/**
 * CloudWatch metrics as Embedded Metric Format documents, in the format of Powertools for AWS
 * Lambda's Metrics: one document per flush, one metric directive (namespace, one dimension set:
 * `service` then the added dimensions, the metrics with their units), the values at the top level.
 * A metric added more than once in a flush is summed (the Counts; a latency is added once per flush).
 *
 * Written here rather than using Powertools' Metrics because its document costs about as much as
 * the admission review it counts; this is one `JSON.stringify` of a small object
 * (docs/performance.md has the figures). Format: CloudWatch's "Specification: Embedded metric
 * format".
 */
import type { LineSink } from './json-log.js';

export const MetricUnit = { Count: 'Count', Milliseconds: 'Milliseconds' } as const;
export type MetricUnit = (typeof MetricUnit)[keyof typeof MetricUnit];

export interface EmfMetricsOptions {
  readonly namespace: string;
  readonly serviceName: string;
  /** Default: stdout, one document per line. */
  readonly sink?: LineSink;
  /** When true nothing is written (POWERTOOLS_METRICS_DISABLED, as with Powertools). */
  readonly disabled?: boolean;
}

const stdoutSink: LineSink = (line) => {
  process.stdout.write(`${line}\n`);
};

/** At most this many metrics per document (CloudWatch's limit is 100); more are flushed first. */
const MAX_METRICS = 100;

/** Directive texts kept (see `#document`): the webhook makes a handful; a caller making more only rebuilds them. */
const MAX_SHAPES = 64;

export class EmfMetrics {
  readonly #sink: LineSink;
  /** As JSON. */
  readonly #namespace: string;
  /** As JSON. */
  readonly #service: string;
  readonly #disabled: boolean;
  #dimensions = new Map<string, string>();
  #values = new Map<string, number>();
  #units = new Map<string, MetricUnit>();
  /** Directive texts by the names they hold (see `#document`). */
  readonly #directives = new Map<string, string>();

  constructor(options: EmfMetricsOptions) {
    this.#sink = options.sink ?? stdoutSink;
    this.#namespace = JSON.stringify(options.namespace);
    this.#service = JSON.stringify(options.serviceName);
    this.#disabled = options.disabled ?? false;
  }

  addMetric(name: string, unit: MetricUnit, value: number): void {
    if (!this.#values.has(name) && this.#values.size >= MAX_METRICS) this.publishStoredMetrics();
    this.#values.set(name, (this.#values.get(name) ?? 0) + value);
    this.#units.set(name, unit);
  }

  /** A dimension of the next document (the last value given for a name wins). */
  addDimension(name: string, value: string): void {
    this.#dimensions.set(name, value);
  }

  hasStoredMetrics(): boolean {
    return this.#values.size > 0;
  }

  /** Write the stored metrics as one document (nothing when there are none or metrics are disabled) and clear them. */
  publishStoredMetrics(): void {
    try {
      if (this.#disabled || this.#values.size === 0) return;
      this.#sink(this.#document());
    } finally {
      this.#values.clear();
      this.#units.clear();
      this.#dimensions.clear();
    }
  }

  /**
   * The document's JSON, written directly: the same text as `JSON.stringify` of it. The metric
   * directive (dimension and metric names, units) repeats from one invocation to the next, so its
   * text is kept by its names (a few shapes per process) and only the values are encoded each time.
   */
  #document(): string {
    let shape = '';
    let dimensionValues = '';
    for (const [name, value] of this.#dimensions) {
      if (name === 'service') continue;
      shape += `${name}\n`;
      dimensionValues += `,${JSON.stringify(name)}:${JSON.stringify(value)}`;
    }
    shape += '\n';
    let values = '';
    for (const [name, value] of this.#values) {
      shape += `${name}\n${this.#units.get(name) ?? MetricUnit.Count}\n`;
      values += `,${JSON.stringify(name)}:${JSON.stringify(value)}`;
    }
    let directive = this.#directives.get(shape);
    if (directive === undefined) {
      directive = this.#directive();
      if (this.#directives.size >= MAX_SHAPES) this.#directives.clear();
      this.#directives.set(shape, directive);
    }
    return `{"_aws":{"Timestamp":${String(Date.now())},${directive}},"service":${this.#service}${dimensionValues}${values}}`;
  }

  /** `"CloudWatchMetrics":[...]` for the stored dimensions and metrics. */
  #directive(): string {
    let dimensionNames = '"service"';
    for (const name of this.#dimensions.keys()) if (name !== 'service') dimensionNames += `,${JSON.stringify(name)}`;
    let definitions = '';
    for (const name of this.#values.keys()) {
      definitions += `${definitions === '' ? '' : ','}{"Name":${JSON.stringify(name)},"Unit":${JSON.stringify(this.#units.get(name) ?? MetricUnit.Count)}}`;
    }
    return `"CloudWatchMetrics":[{"Namespace":${this.#namespace},"Dimensions":[[${dimensionNames}]],"Metrics":[${definitions}]}]`;
  }
}
