/** @type {import('jest').Config} */
export default {
  testEnvironment: 'node',
  roots: ['<rootDir>/tests'],
  testMatch: ['**/*.test.ts'],
  testPathIgnorePatterns: ['/node_modules/', '<rootDir>/tests/e2e/'],
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  transform: { '^.+\\.ts$': ['ts-jest', { useESM: true, tsconfig: 'tsconfig.json' }] },
  setupFiles: ['<rootDir>/tests/setup-env.ts'],
  // A deadline against hangs, not a speed check (npm run bench measures speed): generous, so that a
  // loaded 2-core CI machine running suites in parallel under coverage does not fail a correct test.
  testTimeout: 20_000,
  // `npm test` runs with --coverage, so these floors are enforced there (V8's own counters: no
  // instrumentation of the sources, so timing-sensitive tests behave as without coverage).
  collectCoverageFrom: ['src/**/*.ts'],
  coverageProvider: 'v8',
  // A fresh worker for every test file. With V8 coverage on, a long-lived worker's memory outside
  // the JS heap grew with every file it had run (a full run reached 12 and 23 GB in the 10,000-
  // container test, which alone peaks at 0.4 GB); jest's memory limit only sees the heap.
  workerIdleMemoryLimit: 0,
  coverageReporters: ['text-summary', 'json-summary'],
  coverageThreshold: {
    './src/core/': { lines: 98, branches: 95 },
    './src/config/': { lines: 96, branches: 90 },
    global: { lines: 95, branches: 88 },
  },
};
