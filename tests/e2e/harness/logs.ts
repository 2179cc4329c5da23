/**
 * A log file written by a process of the environment, read incrementally: take a `mark` before an
 * action, read only what was written after it (the refusal logged by serve, the API server's
 * "failing open" line for one Pod).
 */
import { closeSync, openSync, readSync, statSync } from 'node:fs';

export class LogFile {
  constructor(readonly path: string) {}

  /** The current length in bytes (0 when the file does not exist yet). */
  mark(): number {
    try {
      return statSync(this.path).size;
    } catch {
      return 0;
    }
  }

  /** Everything written since `mark` ('' when the file does not exist). */
  text(mark = 0): string {
    let fd: number;
    try {
      fd = openSync(this.path, 'r');
    } catch {
      return '';
    }
    try {
      const size = statSync(this.path).size;
      if (size <= mark) return '';
      const buffer = Buffer.alloc(size - mark);
      const n = readSync(fd, buffer, 0, buffer.length, mark);
      return buffer.subarray(0, n).toString('utf8');
    } finally {
      closeSync(fd);
    }
  }

  /** The last `lines` lines (for error messages). */
  tail(lines = 40): string {
    return this.text().split('\n').slice(-lines - 1).join('\n');
  }
}
