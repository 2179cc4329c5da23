/** The structured log function the adapters share (serve, file watching): a level, a message, fields. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/** One structured log line: a level, a message, and fields (never bodies or tokens). */
export interface LogEntry {
  readonly level: LogLevel;
  readonly msg: string;
  readonly [field: string]: unknown;
}

export type Log = (entry: LogEntry) => void;
