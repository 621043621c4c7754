/** Jest runs TypeScript through SWC (no type-check here: `npm run typecheck` does that). */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: {
    '^.+\\.(t|j)s$': ['@swc/jest', { jsc: { target: 'es2022' }, module: { type: 'commonjs' } }],
  },
  // jose v6 and oauth4webapi ship ESM only; let SWC turn them into CommonJS for Jest's module system.
  transformIgnorePatterns: ['/node_modules/(?!(jose|oauth4webapi)/)'],
  globalSetup: '<rootDir>/test/support/global-setup.ts',
  globalTeardown: '<rootDir>/test/support/global-teardown.ts',
  setupFiles: ['<rootDir>/test/support/setup-env.ts'],
  collectCoverageFrom: ['lambda/**/*.ts', 'lib/**/*.ts', 'local/**/*.ts'],
  coverageReporters: ['text'],
  // The domain core is the security boundary: keep it fully exercised.
  coverageThreshold: { './lambda/core/': { lines: 90, branches: 85 } },
  testTimeout: 30000,
};
