/** The results as a plain-text table (stdout) and as bench/RESULTS.md. */
import type { LoadResult } from './load';
import type { Comparison, WriteResult } from './measure';
import type { ScenarioInfo } from './scenarios';

export interface ScenarioResult {
  scenario: ScenarioInfo;
  comparison?: Comparison;
  queries?: { grantry: number; baseline: number };
  /** Mean latency of a request alone (the sequential requests of the SQL count). */
  sequentialMs?: { grantry: number; baseline: number };
  grantry?: LoadResult;
  baseline?: LoadResult;
  error?: string;
}

export interface Limit {
  name: string;
  value: string;
  target: string;
  pass: boolean | undefined;
  note?: string;
}

export interface Report {
  date: string;
  machine: string[];
  commit: string;
  options: string;
  dataSet: string[];
  results: ScenarioResult[];
  limits: Limit[];
  writes: WriteResult | undefined;
  notes: string[];
  totalSeconds: number;
}

export interface Ratio {
  value: number;
  /** `>`: the baseline completed nothing in the window, so its req/s is below 1/duration and this is a floor. */
  bound?: '>' | '<';
}

/** Requests per second, or its ceiling (1/duration) when nothing completed in the measured window. */
function rpsOf(load: LoadResult): { value: number; ceiling: boolean } {
  return load.ok > 0 ? { value: load.rps, ceiling: false } : { value: 1 / load.duration, ceiling: true };
}

export function ratioOf(result: ScenarioResult): Ratio | undefined {
  const { grantry, baseline } = result;
  if (!grantry || !baseline) return undefined;
  const g = rpsOf(grantry);
  const b = rpsOf(baseline);
  if (g.ceiling && b.ceiling) return undefined;
  if (b.ceiling) return { value: g.value / b.value, bound: '>' };
  if (g.ceiling) return { value: g.value / b.value, bound: '<' };
  return { value: g.value / b.value };
}

export function passOf(result: ScenarioResult): boolean | undefined {
  const ratio = ratioOf(result);
  if (!ratio) return result.grantry && result.baseline ? false : undefined;
  if (ratio.bound === '<') return false;
  return ratio.value >= result.scenario.target;
}

const rps = (value: number | undefined): string =>
  value === undefined ? '-' : value >= 100 ? value.toFixed(0) : value.toFixed(1);

export function rpsText(load: LoadResult | undefined): string {
  if (!load) return '-';
  return load.ok > 0 ? rps(load.rps) : `<${(1 / load.duration).toFixed(2)}`;
}

const ms = (value: number | undefined): string => (value === undefined ? '-' : value.toFixed(1));

export function ratioText(ratio: Ratio | undefined): string {
  if (!ratio) return '-';
  return `${ratio.bound ?? ''}${ratio.value >= 100 ? ratio.value.toFixed(0) : ratio.value.toFixed(2)}x`;
}

const sql = (value: number | undefined): string => (value === undefined ? '-' : value.toFixed(1));
const verdict = (pass: boolean | undefined): string => (pass === undefined ? '-' : pass ? 'PASS' : 'FAIL');

function failures(load: LoadResult | undefined): string {
  if (!load || (load.non2xx === 0 && load.errors === 0)) return '';
  const codes = Object.entries(load.statusCodes)
    .filter(([code]) => !code.startsWith('2'))
    .map(([code, count]) => `${count}x${code}`);
  return [...codes, ...(load.errors > 0 ? [`${load.errors} errors`] : [])].join(' ');
}

function jsonCell(result: ScenarioResult): string {
  if (result.error) return 'ERROR';
  if (!result.comparison) return '-';
  return result.comparison.match ? 'same' : 'MISMATCH';
}

/** Issuance scenarios (and the reads measured alongside them) get a table of their own. */
export const isIssuance = (result: ScenarioResult): boolean => result.scenario.name.startsWith('issue: ');

function rows(report: Report, which: (result: ScenarioResult) => boolean = () => true): string[][] {
  return report.results.filter(which).map((result) => {
    const problems = [
      failures(result.grantry) && `Grantry: ${failures(result.grantry)}`,
      failures(result.baseline) && `baseline: ${failures(result.baseline)}`,
    ].filter(Boolean);
    return [
      result.scenario.name,
      rpsText(result.grantry),
      ms(result.grantry?.p50),
      ms(result.grantry?.p99),
      rpsText(result.baseline),
      ms(result.baseline?.p50),
      ms(result.baseline?.p99),
      ratioText(ratioOf(result)),
      result.scenario.load ? `>= ${result.scenario.target}x` : '(queries only)',
      verdict(passOf(result)),
      sql(result.queries?.grantry),
      sql(result.queries?.baseline),
      ms(result.sequentialMs?.grantry),
      ms(result.sequentialMs?.baseline),
      jsonCell(result),
      problems.join('; '),
    ];
  });
}

const HEADER = [
  'Scenario',
  'Grantry req/s',
  'p50 ms',
  'p99 ms',
  'Baseline req/s',
  'p50 ms',
  'p99 ms',
  'Ratio',
  'Target',
  'Result',
  'SQL/req G',
  'SQL/req B',
  '1 req ms G',
  '1 req ms B',
  'JSON',
  'Non-2xx',
];

export function textTable(header: string[], body: string[][]): string {
  const widths = header.map((cell, i) => Math.max(cell.length, ...body.map((row) => (row[i] ?? '').length)));
  const line = (row: string[]): string =>
    row
      .map((cell, i) => (i === 0 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n');
}

function markdownTable(header: string[], body: string[][]): string {
  const escape = (cell: string): string => cell.replace(/\|/g, '\\|');
  return [
    `| ${header.map(escape).join(' | ')} |`,
    `| ${header.map((_, i) => (i === 0 ? '---' : '---:')).join(' | ')} |`,
    ...body.map((row) => `| ${row.map(escape).join(' | ')} |`),
  ].join('\n');
}

function limitRows(report: Report): string[][] {
  return report.limits.map((limit) => [
    limit.name,
    limit.value,
    limit.target,
    verdict(limit.pass),
    limit.note ?? '',
  ]);
}

const LIMIT_HEADER = ['Measure', 'Value', 'Target', 'Result', 'Note'];

export function summary(report: Report): { pass: number; fail: number; mismatches: number } {
  const verdicts = [...report.results.map(passOf), ...report.limits.map((limit) => limit.pass)];
  return {
    pass: verdicts.filter((v) => v === true).length,
    fail: verdicts.filter((v) => v === false).length,
    mismatches: report.results.filter((r) => r.comparison && !r.comparison.match).length,
  };
}

export function printReport(report: Report): string {
  const { pass, fail, mismatches } = summary(report);
  const issuance = report.results.some(isIssuance);
  const reads = report.results.some((r) => !isIssuance(r));
  return [
    ...(reads
      ? [
          '',
          textTable(
            HEADER,
            rows(report, (r) => !isIssuance(r)),
          ),
        ]
      : []),
    ...(issuance || !reads ? ['', textTable(HEADER, rows(report, isIssuance))] : []),
    '',
    textTable(LIMIT_HEADER, limitRows(report)),
    '',
    `${pass} PASS, ${fail} FAIL, ${mismatches} JSON mismatch(es); ${report.totalSeconds.toFixed(0)} s in all`,
  ].join('\n');
}

export function markdownReport(report: Report): string {
  const { pass, fail, mismatches } = summary(report);
  const mismatchLines = report.results
    .filter((r) => (r.comparison && !r.comparison.match) || r.error)
    .map((r) =>
      r.error
        ? `- **${r.scenario.name}**: harness error: ${r.error}`
        : `- **${r.scenario.name}** (${r.scenario.paths[0] ?? ''}): ${r.comparison?.difference ?? ''}`,
    );
  const scenarioNotes = report.results
    .filter((r) => r.scenario.note)
    .map((r) => `- ${r.scenario.name}: ${r.scenario.note ?? ''}`);
  return [
    '# Grantry benchmark results',
    '',
    'Written by `npm run bench` (see `bench/README.md`). Grantry as built (`node dist/src/main.js`, production mode)',
    'against `bench/baseline.ts`, a straightforward `node:http` + `pg` implementation of the same reads, over the same',
    'database; both under the same load from a separate autocannon process, one after the other.',
    '',
    `- Date: ${report.date}`,
    ...report.machine.map((line) => `- ${line}`),
    `- Commit: ${report.commit}`,
    `- Options: ${report.options}`,
    `- Total time of the run: ${report.totalSeconds.toFixed(0)} s`,
    '',
    '## Data set',
    '',
    ...report.dataSet.map((line) => `- ${line}`),
    '',
    `## Reads (${pass} PASS, ${fail} FAIL overall, ${mismatches} JSON mismatch(es))`,
    '',
    'Requests/s count 2xx answers only; latencies are of all answers. Ratio = Grantry req/s / baseline req/s.',
    '`<0.10` req/s: nothing completed within the measured window (every request took longer), so the ratio is a',
    'floor (`>`). 1 req ms = mean latency of one request alone (the sequential requests of the SQL count).',
    'SQL/req = SQL statements per request (authentication included), counted by pg_stat_statements over sequential',
    'requests. JSON: the two servers\u2019 bodies for the scenario\u2019s (first) request, compared byte for byte.',
    '',
    report.results.some((r) => !isIssuance(r))
      ? markdownTable(
          HEADER,
          rows(report, (r) => !isIssuance(r)),
        )
      : 'Not run (`--only` left these scenarios out).',
    '',
    '## Issuance',
    '',
    'POST /application/o/token/ and /application/o/introspect/ on Grantry against the bare loop of',
    '`bench/issuance-baseline.ts` (node:http + pg, the same statements, the same signing with the same key), target',
    '>= 0.5x. JSON for the token endpoint: status, member order, token_type, scope, expires_in, the refresh token’s',
    'form, both JWTs’ headers, claim order and stable claims compared, and every signature verified with the',
    'provider’s public key (fresh tokens differ by nature); introspection answers are compared byte for byte.',
    '`issue: mixed` rows: a read scenario measured on both servers alone, then again while client_credentials runs',
    'on the same server at a fixed rate (the note gives it), with the read’s own target. See bench/README.md.',
    '',
    ...(report.results.some(isIssuance)
      ? [markdownTable(HEADER, rows(report, isIssuance))]
      : ['Not run (`--only` left these scenarios out).']),
    '',
    '## Other measures',
    '',
    markdownTable(LIMIT_HEADER, limitRows(report)),
    '',
    ...(report.writes
      ? [
          '### Writes',
          '',
          `- oauth2_access_tokens (as migrated: indexes, foreign keys, triggers): ${report.writes.grantry.inserts} inserts in ` +
            `${report.writes.grantry.seconds.toFixed(1)} s = ${report.writes.grantry.rate.toFixed(0)}/s`,
          `- bench_plain_access_tokens (a copy of the table, same rows, as the initial schema defines it: primary key, unique token_hash, ` +
            `foreign keys to users and providers, indexes on expires, user_id and (provider_id, expires, id); no count ` +
            `triggers): ${report.writes.plain.inserts} inserts in ${report.writes.plain.seconds.toFixed(1)} s = ` +
            `${report.writes.plain.rate.toFixed(0)}/s`,
          `- ratio ${report.writes.ratio.toFixed(2)}x (the target); the two tables ran in the order A B B A A B B A, half the ` +
            `time each`,
          `- bench_bare_access_tokens (a copy with the primary key and unique token_hash only, no foreign keys, no other ` +
            `index): ` +
            `${report.writes.bare.inserts} inserts in ${report.writes.bare.seconds.toFixed(1)} s = ` +
            `${report.writes.bare.rate.toFixed(0)}/s; Grantry/bare ${report.writes.bareRatio.toFixed(2)}x (information)`,
          `- ${report.writes.cleanedUp} inserted rows deleted afterwards (${report.writes.leftOver} left)`,
          '',
        ]
      : []),
    '## JSON mismatches',
    '',
    ...(mismatchLines.length > 0 ? mismatchLines : ['None: every compared body was byte-identical.']),
    '',
    '## Scenario details',
    '',
    ...scenarioNotes,
    '',
    '## Notes',
    '',
    ...report.notes.map((line) => `- ${line}`),
    '',
  ].join('\n');
}
