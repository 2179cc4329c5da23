/**
 * What the AWS SDK's attempts of one read failed with, kept for the message when the read's own
 * bound (READ_TIMEOUT_MS) cuts it. The SDK waits before each retry, up to 5 s more when the answer
 * asks for it with Retry-After (a throttling proxy's 503), and a bound that ends that wait left only
 * "Request aborted": the log said that the store did not answer, when it had answered 503. A
 * middleware of the SDK's documented middleware stack, added to the one command (each read its own),
 * in the deserialize step before the deserializer: inside the retries, so it sees each attempt's
 * error as the retry strategy does.
 */
import type { DeserializeMiddleware, MiddlewareStack } from '@smithy/types';

export interface AttemptErrors {
  /**
   * Adds the middleware to a command's stack (`command.middlewareStack`), before it is sent. A
   * command without one (a stand-in for the SDK) is sent as it is: what this keeps is for the
   * message only, and must never stop the read.
   */
  watch<I extends object, O extends object>(stack: MiddlewareStack<I, O> | undefined): void;
  /** The error of the latest attempt that failed before the bound; undefined when none did. */
  last(): unknown;
}

/** The attempts' errors of one read bounded by `signal`; an error that comes once it is aborted (the abort's own) is not kept. */
export function attemptErrors(signal: AbortSignal): AttemptErrors {
  let last: unknown;
  return {
    watch: <I extends object, O extends object>(stack: MiddlewareStack<I, O> | undefined): void => {
      if (typeof stack?.add !== 'function') return;
      const keep: DeserializeMiddleware<I, O> = (next) => async (args) => {
        try {
          return await next(args);
        } catch (e) {
          if (!signal.aborted) last = e;
          throw e;
        }
      };
      stack.add(keep, { step: 'deserialize', priority: 'high', name: 'imageRewriterAttemptErrors' });
    },
    last: () => last,
  };
}
