const base = require('./jest.config');

/**
 * The unit specs that cover the modules `npm run mutation` mutates (see stryker.config.mjs). None of them opens a
 * database, so there is no global setup: Stryker runs these specs for every mutant, and starting an embedded
 * PostgreSQL for each run would cost more than the tests.
 */
module.exports = {
  rootDir: base.rootDir,
  // Only src/ is crawled: the specs and the code they test live there, and the crawl is part of every mutant's run.
  roots: ['<rootDir>/src'],
  // Plain Node: jest.config.js's environment makes a database per file, which none of these specs uses (and Stryker's
  // jest runner does not expand its <rootDir>).
  testEnvironment: 'node',
  transform: base.transform,
  transformIgnorePatterns: base.transformIgnorePatterns,
  testMatch: [
    '<rootDir>/src/common/list-query/*.spec.ts',
    '<rootDir>/src/common/pagination/*.spec.ts',
    '<rootDir>/src/common/serializers/*.spec.ts',
    '<rootDir>/src/oauth2/grants/page-window.spec.ts',
    '<rootDir>/src/config/*.spec.ts',
    '<rootDir>/src/providers/timedelta.spec.ts',
    '<rootDir>/src/cli/args.spec.ts',
    '<rootDir>/src/oauth2/issuance/core/*.spec.ts',
  ],
  testTimeout: 10000,
};
