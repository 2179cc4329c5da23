/** jest globalTeardown (jest.e2e.config.js): the teardown of the harness module global-setup.ts loaded. */
import type * as JestGlobal from './jest-global.js';

const HARNESS_KEY = Symbol.for('image-rewriter.e2e.harness');

function isHarness(v: unknown): v is typeof JestGlobal {
  return typeof v === 'object' && v !== null && typeof (v as { teardown?: unknown }).teardown === 'function';
}

export default async function globalTeardown(): Promise<void> {
  const harness = (globalThis as Record<symbol, unknown>)[HARNESS_KEY];
  if (isHarness(harness)) await harness.teardown();
}
