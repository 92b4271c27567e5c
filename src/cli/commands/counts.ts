import { checkKeptCounts, type CountCheck, repairKeptCounts } from '../../database/kept-counts';
import { defineCommand, parseInteger } from '../args';

/** The exit code of a check that found kept counts differing from their rows. */
export const EXIT_COUNTS_DIFFER = 3;

function describe(checks: CountCheck[]): string[] {
  return checks.map((check) => {
    const where = `${check.kept} for ${check.table}`;
    if (check.differing === 0) return `  ok       ${where} (${check.keys} keys)`;
    const shown = check.differences.map(
      (d) => `             ${JSON.stringify(d.key)}: rows ${d.rows}, kept ${d.kept}`,
    );
    const more = check.differing - check.differences.length;
    return [
      `  DIFFERS  ${where}: ${check.differing} of its keys`,
      ...shown,
      ...(more > 0 ? [`             ... and ${more} more`] : []),
    ].join('\n');
  });
}

export const countsCheck = defineCommand({
  name: 'counts check',
  summary:
    'Compare the counts Grantry keeps for fast lists (grants per provider, the incident filters\u2019 facets, users, ' +
    'events) with the rows they count; with --repair, rebuild the ones that differ from the rows.',
  options: {
    repair: {
      type: 'boolean',
      description:
        'rebuild every kept count that differs (writers of that table wait meanwhile; readers do not)',
    },
    limit: { type: 'string', valueName: 'N', description: 'differing keys to show per count (default 20)' },
  },
  notes:
    'The counts are kept exact by triggers; a difference means something went around them (triggers disabled, ' +
    'rows copied in with session_replication_role = replica, a kept table edited by hand). A check reads one ' +
    `snapshot and writes nothing; it exits ${EXIT_COUNTS_DIFFER} when a count differs. --repair exits 0 once ` +
    'every count is rebuilt, and prints what it found.',
  prepare(options) {
    const limit = options.limit === undefined ? 20 : parseInteger('limit', options.limit, 0, 10_000);
    const repair = options.repair;
    return async ({ dataSource }) => {
      const checks = repair
        ? await repairKeptCounts(dataSource, limit)
        : await checkKeptCounts(dataSource, limit);
      const differing = checks.filter((check) => check.differing > 0);
      const verdict =
        differing.length === 0
          ? 'Every kept count equals its rows.'
          : repair
            ? `Rebuilt ${differing.length} kept count(s) from their rows.`
            : `${differing.length} kept count(s) differ from their rows: run again with --repair to rebuild them.`;
      return {
        json: {
          repaired: repair ?? false,
          ok: differing.length === 0 || repair === true,
          counts: checks,
        },
        text: [...describe(checks), verdict].join('\n'),
        exitCode: differing.length > 0 && !repair ? EXIT_COUNTS_DIFFER : 0,
      };
    };
  },
});
