/**
 * `npm run mutation`: Stryker over Grantry's pure modules (parsers, pagination arithmetic, serializers, settings,
 * OAuth2 claims, PKCE and redirect matching). Not part of CI: it runs the unit specs once per mutant. The score and
 * the explanation of every surviving mutant are in test/MUTATION.md.
 *
 * @type {import('@stryker-mutator/api/core').PartialStrykerOptions}
 */
export default {
  testRunner: 'jest',
  // Each mutant's run loads only the specs that import the mutated file: loading all of them (NestJS included) for
  // every mutant cost about 7 s more per run than the tests themselves.
  jest: { configFile: 'jest.mutation.config.js', enableFindRelatedTests: true },
  checkers: [],
  mutate: [
    'src/common/list-query/*.ts',
    'src/common/pagination/*.ts',
    'src/common/serializers/*.ts',
    'src/oauth2/grants/page-window.ts',
    'src/config/config.ts',
    'src/providers/timedelta.ts',
    'src/cli/args.ts',
    'src/oauth2/issuance/core/scopes.ts',
    'src/oauth2/issuance/core/pkce.ts',
    'src/oauth2/issuance/core/redirect-uris.ts',
    '!src/**/*.spec.ts',
  ],
  coverageAnalysis: 'perTest',
  // Static mutants (the module-level tables: CONFIG_VARIABLES, MICROSECONDS, the id_token claim order, the avatar
  // palette) need a fresh module registry per mutant; with the jest runner on this project each one ran into the
  // timeout instead of failing fast, and they took over 90 % of the time. They are reported as Ignored; the tables
  // are asserted value by value by the specs (see test/MUTATION.md).
  ignoreStatic: true,
  // The machine is shared: two workers at most (MUTATION_CONCURRENCY=1 for one).
  concurrency: Number(process.env.MUTATION_CONCURRENCY ?? 2),
  // A mutant's run takes well under a second on an idle machine; the generous bound keeps a busy machine's slow runs
  // from being reported (and restarted) as timeouts. Real infinite loops still end as Timeout.
  timeoutMS: 30000,
  incremental: true,
  incrementalFile: 'reports/mutation/stryker-incremental.json',
  reporters: ['clear-text', 'progress', 'html', 'json'],
  htmlReporter: { fileName: 'reports/mutation/mutation.html' },
  jsonReporter: { fileName: 'reports/mutation/mutation.json' },
  thresholds: { high: 90, low: 80, break: 80 },
  tempDirName: '.stryker-tmp',
  // The sandbox copies the project; build output, databases and reports are not part of it.
  ignorePatterns: ['dist', 'data', 'coverage', 'reports', '.test-pg', 'bench/.data*'],
  cleanTempDir: 'always',
};
