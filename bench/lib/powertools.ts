/**
 * Powertools for AWS Lambda's Logger and Metrics, set up for speed, to measure beside the webhook's
 * own writers (src/observability/json-log.ts, emf.ts), which replaced them. Each hands its JSON to
 * a sink instead of stdout (formatting measured, not I/O), as the webhook's writers do in the bench.
 *
 * Set up for speed: no log buffering, no sampling, no persistent keys, no pretty printing
 * (POWERTOOLS_DEV unset); the line is `JSON.stringify` of the log item, with Powertools' replacer
 * (Errors, BigInt) for the standard formatter and without it for the minimal one: a LogFormatter
 * that copies four keys (the cheapest formatter the Logger accepts).
 */
import { Logger, LogFormatter, LogItem } from '@aws-lambda-powertools/logger';
import type { LogAttributes, UnformattedAttributes } from '@aws-lambda-powertools/logger/types';
import { Metrics } from '@aws-lambda-powertools/metrics';

type Sink = (line: string) => void;

class SinkLogger extends Logger {
  private sink: Sink | undefined;

  constructor(sink: Sink, replacer: boolean, options: ConstructorParameters<typeof Logger>[0]) {
    super(options);
    this.sink = sink;
    this.replacer = replacer;
  }

  private readonly replacer: boolean;

  protected override printLog(_level: number, log: LogItem): void {
    log.prepareForPrint();
    this.sink?.(this.replacer ? JSON.stringify(log.getAttributes(), this.getJsonReplacer()) : JSON.stringify(log.getAttributes()));
  }
}

class MinimalFormatter extends LogFormatter {
  override formatAttributes(attributes: UnformattedAttributes, additional: LogAttributes): LogItem {
    const base = { level: attributes.logLevel, message: attributes.message, timestamp: this.formatTimestamp(attributes.timestamp), service: attributes.serviceName };
    return new LogItem({ attributes: base }).addAttributes(additional);
  }
}

/** Powertools' Logger with its standard formatter (the webhook's line format). */
export function powertoolsLogger(sink: Sink): Logger {
  return new SinkLogger(sink, true, { serviceName: 'image-rewriter', logLevel: 'INFO', sampleRateValue: 0 });
}

/** Powertools' Logger with a minimal formatter: its fastest set-up. */
export function powertoolsMinimalLogger(sink: Sink): Logger {
  return new SinkLogger(sink, false, { serviceName: 'image-rewriter', logLevel: 'INFO', sampleRateValue: 0, logFormatter: new MinimalFormatter() });
}

class SinkMetrics extends Metrics {
  private readonly sink: Sink;

  constructor(sink: Sink) {
    super({ namespace: 'ImageRewriter', serviceName: 'image-rewriter' });
    this.sink = sink;
  }

  override publishStoredMetrics(): this {
    this.sink(JSON.stringify(this.serializeMetrics()));
    this.clearMetrics();
    this.clearDimensions();
    return this;
  }
}

/** Powertools' Metrics writing its EMF documents into `sink`. */
export function powertoolsMetrics(sink: Sink): Metrics {
  return new SinkMetrics(sink);
}
