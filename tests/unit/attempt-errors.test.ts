/**
 * src/config/attempt-errors.ts: the middleware that keeps the last failed attempt of an SSM or
 * Secrets Manager read, for the message when the read's bound cuts it. What it keeps must never
 * stop the read: a command without a middleware stack (a stand-in for the SDK, as two test files
 * use) is sent as it is, where it threw "Cannot read properties of undefined (reading 'add')" and
 * the token read failed with that TypeError.
 */
import { describe, expect, it } from '@jest/globals';
import { GetParameterCommand } from '@aws-sdk/client-ssm';
import { attemptErrors } from '../../src/config/attempt-errors.js';

describe('attemptErrors', () => {
  it('leaves a command without a middleware stack alone', () => {
    const attempts = attemptErrors(new AbortController().signal);
    expect(() => { attempts.watch(undefined); }).not.toThrow();
    expect(attempts.last()).toBeUndefined();
  });

  it("adds its middleware to a real command's stack, keeps an attempt's error, and not the abort's own", async () => {
    const controller = new AbortController();
    const attempts = attemptErrors(controller.signal);
    const command = new GetParameterCommand({ Name: 'p' });
    attempts.watch(command.middlewareStack);
    expect(command.middlewareStack.identify().some((m) => m.startsWith('imageRewriterAttemptErrors'))).toBe(true);
    // The stack resolved around a handler that fails as an attempt would (a 503), then as the abort.
    const throttled = Object.assign(new Error('slow down'), { name: 'ServiceUnavailable' });
    let fail: Error = throttled;
    const handler = command.middlewareStack.resolve(() => Promise.reject(fail), {});
    await expect(handler({ input: {} } as never)).rejects.toBe(throttled);
    expect(attempts.last()).toBe(throttled);
    controller.abort();
    fail = Object.assign(new Error('Request aborted'), { name: 'AbortError' });
    await expect(handler({ input: {} } as never)).rejects.toBe(fail);
    expect(attempts.last()).toBe(throttled);
  });
});
