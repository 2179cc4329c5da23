// The part of autocannon 9's API the benchmark uses (the package ships no types).
declare module 'autocannon' {
  interface Request {
    method?: string;
    path?: string;
    headers?: Record<string, string>;
    body?: string | Buffer;
  }
  interface RequestSpec extends Request {
    /** Called before each request is sent (and once when a connection is made); returns the request. */
    setupRequest?: (request: Request, context: Record<string, unknown>) => Request;
    /** Called with each complete response. */
    onResponse?: (status: number, body: string, context: Record<string, unknown>, headers: Record<string, string>) => void;
  }
  interface Options {
    url: string;
    connections?: number;
    pipelining?: number;
    /** Seconds. */
    duration?: number;
    /** Requests per second over all connections (0: as fast as possible). */
    overallRate?: number;
    /** Seconds before a request counts as timed out. */
    timeout?: number;
    requests?: RequestSpec[];
  }
  interface Result {
    errors: number;
    timeouts: number;
    non2xx: number;
    mismatches: number;
    /** Seconds. */
    duration: number;
    start: Date;
    finish: Date;
    requests: { total: number; average: number };
  }
  interface Instance extends PromiseLike<Result> {
    stop(): void;
  }
  function autocannon(options: Options): Instance;
  export default autocannon;
}
