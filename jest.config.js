/**
 * Two tiers: `unit` (pure code, specs beside it as `*.spec.ts`, no services) and `integration` (`test/**\/*.it.ts`,
 * real broker and database, started once per run by global setup through the stack script).
 */
// a zone that is not UTC, so that code reading local time where it should not (HTTP dates are GMT) fails here too
process.env.TZ = 'Asia/Tokyo';

const transform = { '^.+\\.ts$': ['ts-jest', { tsconfig: { isolatedModules: true } }] };

module.exports = {
  projects: [
    {
      displayName: 'unit',
      testEnvironment: 'node',
      roots: ['<rootDir>/libs', '<rootDir>/apps'],
      testMatch: ['**/*.spec.ts'],
      transform,
    },
    {
      displayName: 'integration',
      testEnvironment: 'node',
      roots: ['<rootDir>/test'],
      testMatch: ['**/*.it.ts'],
      transform,
      globalSetup: '<rootDir>/test/support/global-setup.js',
    },
  ],
  // read from the top level only (Jest ignores it inside a project); generous for app start-ups on a busy machine
  testTimeout: 90000,
};
