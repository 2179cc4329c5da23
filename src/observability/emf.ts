/**
 * CloudWatch metrics as Embedded Metric Format documents, in the format of Powertools for AWS
 * Lambda's Metrics: one document per flush, one metric directive (namespace, one dimension set:
 * `service` then the added dimensions, the metrics with their units), the values at the top level;
 * a second directive, with `service` only, for the metrics added by `addServiceMetric` (a series an
 * alarm reads whatever the document's other dimensions: one metric rather than one per value).
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

interface StoredMetric {
  readonly name: string;
  /** The name as JSON. */
  readonly key: string;
  unit: MetricUnit;
  value: number;
  /** Published with `service` only (`addServiceMetric`). */
  readonly serviceOnly: boolean;
}

interface StoredDimension {
  readonly name: string;
  value: string;
}

/** A metric directive's text and the names and units it was built for. */
interface Directive {
  readonly dimensions: readonly string[];
  readonly metrics: readonly string[];
  readonly units: readonly MetricUnit[];
  readonly serviceOnly: readonly boolean[];
  readonly text: string;
}

export class EmfMetrics {
  readonly #sink: LineSink;
  /** As JSON. */
  readonly #namespace: string;
  /** As JSON. */
  readonly #service: string;
  readonly #disabled: boolean;
  // Arrays searched in order rather than Maps: a document holds a handful of each.
  #metrics: StoredMetric[] = [];
  #dimensions: StoredDimension[] = [];
  /** Names as JSON, encoded once: they are the code's constants. */
  readonly #keys = new Map<string, string>();
  /** Directive texts already built (see `#document`). */
  #directives: Directive[] = [];

  constructor(options: EmfMetricsOptions) {
    this.#sink = options.sink ?? stdoutSink;
    this.#namespace = JSON.stringify(options.namespace);
    this.#service = JSON.stringify(options.serviceName);
    this.#disabled = options.disabled ?? false;
  }

  addMetric(name: string, unit: MetricUnit, value: number): void {
    this.#add(name, unit, value, false);
  }

  /** A metric published with the dimension `service` only, whatever dimensions the document has. */
  addServiceMetric(name: string, unit: MetricUnit, value: number): void {
    this.#add(name, unit, value, true);
  }

  #add(name: string, unit: MetricUnit, value: number, serviceOnly: boolean): void {
    for (const m of this.#metrics) {
      if (m.name === name) {
        m.value += value;
        m.unit = unit;
        return;
      }
    }
    if (this.#metrics.length >= MAX_METRICS) this.publishStoredMetrics();
    this.#metrics.push({ name, key: this.#key(name), unit, value, serviceOnly });
  }

  /** A dimension of the next document (the last value given for a name wins). */
  addDimension(name: string, value: string): void {
    for (const d of this.#dimensions) {
      if (d.name === name) {
        d.value = value;
        return;
      }
    }
    this.#dimensions.push({ name, value });
  }

  hasStoredMetrics(): boolean {
    return this.#metrics.length > 0;
  }

  /** Write the stored metrics as one document (nothing when there are none or metrics are disabled) and clear them. */
  publishStoredMetrics(): void {
    try {
      if (this.#disabled || this.#metrics.length === 0) return;
      this.#sink(this.#document());
    } finally {
      this.#metrics = [];
      this.#dimensions = [];
    }
  }

  #key(name: string): string {
    let key = this.#keys.get(name);
    if (key === undefined) {
      key = JSON.stringify(name);
      if (this.#keys.size < MAX_SHAPES * 4) this.#keys.set(name, key);
    }
    return key;
  }

  /**
   * The document's JSON, written directly: the same text as `JSON.stringify` of it. The metric
   * directive (dimension and metric names, units) repeats from one invocation to the next, so its
   * text is kept and only the values are encoded each time.
   */
  #document(): string {
    let dimensionValues = '';
    for (const d of this.#dimensions) if (d.name !== 'service') dimensionValues += `,${this.#key(d.name)}:${JSON.stringify(d.value)}`;
    let values = '';
    for (const m of this.#metrics) values += `,${m.key}:${JSON.stringify(m.value)}`;
    return `{"_aws":{"Timestamp":${String(Date.now())},${this.#directive()}},"service":${this.#service}${dimensionValues}${values}}`;
  }

  /** `"CloudWatchMetrics":[...]` for the stored dimensions and metrics: a kept one when it was built before. */
  #directive(): string {
    const dimensions = this.#dimensions.filter((d) => d.name !== 'service');
    for (const kept of this.#directives) {
      if (
        kept.dimensions.length === dimensions.length &&
        kept.metrics.length === this.#metrics.length &&
        dimensions.every((d, i) => kept.dimensions[i] === d.name) &&
        this.#metrics.every((m, i) => kept.metrics[i] === m.name && kept.units[i] === m.unit && kept.serviceOnly[i] === m.serviceOnly)
      ) {
        return kept.text;
      }
    }
    let dimensionNames = '"service"';
    for (const d of dimensions) dimensionNames += `,${this.#key(d.name)}`;
    let definitions = '';
    let serviceDefinitions = '';
    for (const m of this.#metrics) {
      const definition = `{"Name":${m.key},"Unit":${JSON.stringify(m.unit)}}`;
      if (m.serviceOnly && dimensions.length > 0) serviceDefinitions += `${serviceDefinitions === '' ? '' : ','}${definition}`;
      else definitions += `${definitions === '' ? '' : ','}${definition}`;
    }
    const directives: string[] = [];
    if (definitions !== '') directives.push(`{"Namespace":${this.#namespace},"Dimensions":[[${dimensionNames}]],"Metrics":[${definitions}]}`);
    if (serviceDefinitions !== '') directives.push(`{"Namespace":${this.#namespace},"Dimensions":[["service"]],"Metrics":[${serviceDefinitions}]}`);
    const text = `"CloudWatchMetrics":[${directives.join(',')}]`;
    if (this.#directives.length >= MAX_SHAPES) this.#directives = [];
    this.#directives.push({
      dimensions: dimensions.map((d) => d.name),
      metrics: this.#metrics.map((m) => m.name),
      units: this.#metrics.map((m) => m.unit),
      serviceOnly: this.#metrics.map((m) => m.serviceOnly),
      text,
    });
    return text;
  }
}
