// End-to-end tests (npm run test:e2e, through scripts/test-e2e.sh): a real etcd, kube-apiserver and
// kube-controller-manager (hack/k8s/build.sh) call `image-rewriter serve` (dist/cli.js) over TLS.
// globalSetup starts that environment once (about ten seconds on an idle machine), the scenarios
// share it, globalTeardown stops it. The tools come from the environment variable
// IMAGE_REWRITER_K8S_BIN, which the wrapper script exports; without it the run fails and says how
// to get them. Files are named *.e2e.ts so that the unit config never picks them up.
import base from './jest.config.js';

/** @type {import('jest').Config} */
export default {
  testEnvironment: base.testEnvironment,
  extensionsToTreatAsEsm: base.extensionsToTreatAsEsm,
  moduleNameMapper: base.moduleNameMapper,
  transform: base.transform,
  roots: ['<rootDir>/tests/e2e'],
  testMatch: ['**/*.e2e.ts'],
  globalSetup: '<rootDir>/tests/e2e/harness/global-setup.ts',
  globalTeardown: '<rootDir>/tests/e2e/harness/global-teardown.ts',
  // One API server, one webhook: scenarios run one after the other, in jest's own process (so the
  // processes a scenario starts are children of the process whose exit handlers clean up).
  maxWorkers: 1,
  // Generous: a loaded 2-core machine; every wait inside is bounded on its own.
  testTimeout: 300_000,
  slowTestThreshold: 60,
  verbose: true,
};
