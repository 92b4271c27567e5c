const fs = require('node:fs');
const path = require('node:path');

/**
 * NestJS 12 and several of its dependencies ship only ES modules. The app is CommonJS and loads them through Node's
 * require(esm), which Jest's module registry cannot do on Node 20, so Jest compiles every ESM package to CommonJS.
 * The list is read from node_modules so a dependency turning ESM in an update needs no change here.
 */
function esmPackages() {
  const root = path.join(__dirname, 'node_modules');
  const names = [];
  const visit = (dir, prefix) => {
    for (const entry of fs.readdirSync(dir)) {
      if (entry.startsWith('.')) continue;
      if (entry.startsWith('@') && !prefix) {
        visit(path.join(dir, entry), `${entry}/`);
        continue;
      }
      try {
        const pkg = JSON.parse(fs.readFileSync(path.join(dir, entry, 'package.json'), 'utf8'));
        if (pkg.type === 'module') names.push(`${prefix}${entry}`);
      } catch {
        // not a package
      }
    }
  };
  if (fs.existsSync(root)) visit(root, '');
  return names.map((name) => name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
}

/**
 * Unit specs live beside the code; e2e suites live in test/. Both run against real PostgreSQL: each file in a
 * database of its own (test/support/test-environment.ts), one file at a time. `--randomize` shuffles the files as
 * well as the tests within each (test/support/test-sequencer.ts) and prints the seed that replays the order.
 */
module.exports = {
  rootDir: '.',
  testEnvironment: '<rootDir>/test/support/test-environment.ts',
  testSequencer: '<rootDir>/test/support/test-sequencer.js',
  // Suites start servers, CLIs and clusters and measure time against configured timeouts: on a small machine
  // parallel files starve each other. One worker whether or not --runInBand is given.
  maxWorkers: 1,
  testMatch: ['<rootDir>/src/**/*.spec.ts', '<rootDir>/test/**/*.e2e-spec.ts'],
  // npm run mutation's sandbox holds a copy of the project while it runs.
  modulePathIgnorePatterns: ['<rootDir>/.stryker-tmp/'],
  transformIgnorePatterns: [`/node_modules/(?!(${esmPackages().join('|')})/)`],
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
