/**
 * Unit tests run on the TypeScript sources; integration tests start the built dist/cli.js.
 * Two workers even on 2 cores (jest's default would be one): most integration files wait on real
 * servers (Prometheus evaluating rules, a 2-minute exporter outage, Pebble, Prosody) rather than
 * compute, so two files side by side halve the wall time.
 */
module.exports = {
  preset: 'ts-jest',
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  testTimeout: 30000,
  maxWorkers: 2,
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json' }] },
};
