// Integration tests (npm run test:integration, through scripts/test-integration.sh): the bundled
// handler under the AWS Lambda Runtime Interface Emulator, and the AWS reads against a moto server.
// They need tools outside node_modules, passed in by the wrapper script as environment variables
// (IMAGE_REWRITER_RIE, IMAGE_REWRITER_RIC_DIR, IMAGE_REWRITER_VENV); without them the tests fail
// and say which script provides the tool. The files are named *.integration.ts so that the unit
// config (jest.config.js, testMatch *.test.ts) never picks them up.
import base from './jest.config.js';

/** @type {import('jest').Config} */
export default {
  testEnvironment: base.testEnvironment,
  extensionsToTreatAsEsm: base.extensionsToTreatAsEsm,
  moduleNameMapper: base.moduleNameMapper,
  transform: base.transform,
  roots: ['<rootDir>/tests/integration'],
  testMatch: ['**/*.integration.ts'],
  // Each suite starts processes on 127.0.0.1 (RIE, moto); one at a time on a small, busy machine.
  maxWorkers: 1,
  // Generous: a loaded 2-core machine, cold starts, and bounded polls of a 1 s TTL.
  testTimeout: 180_000,
  slowTestThreshold: 60,
};
