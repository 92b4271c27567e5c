import { findUser } from '../../identity/accounts';
import { createGrant, GRANT_KIND_NAMES, normalizeScope } from '../../oauth2/common/grants';
import { cleanExpiredGrants, previewCleanup } from '../../oauth2/grants/grant-cleanup';
import { parseTimedelta } from '../../providers/timedelta';
import { ArgumentError, defineCommand, parseDateTime, parseInteger } from '../args';

const NOUN = { access: 'access token', refresh: 'refresh token', code: 'authorization code' } as const;

export const grantCreate = defineCommand({
  name: 'grant create',
  summary:
    'Create an OAuth2 access token, refresh token or authorization code and print its value (shown only now: it ' +
    'is stored as a hash).',
  options: {
    type: {
      type: 'string',
      valueName: 'TYPE',
      required: true,
      choices: GRANT_KIND_NAMES,
      description: 'what to create',
    },
    user: { type: 'string', valueName: 'USERNAME', required: true, description: 'the user it was issued to' },
    provider: {
      type: 'string',
      valueName: 'ID',
      required: true,
      description: 'pk of the provider that issued it',
    },
    scope: { type: 'string', valueName: 'SCOPES', description: 'space-separated, default "openid"' },
    expires: {
      type: 'string',
      valueName: 'DATETIME',
      description:
        "ISO 8601 (UTC when no offset; may be in the past); default now + the provider's validity for the type",
    },
    revoked: { type: 'boolean', description: 'create it revoked' },
  },
  prepare(options) {
    const kind = options.type;
    const providerId = parseInteger('provider', options.provider, 1, 2_147_483_647);
    const expires = options.expires === undefined ? undefined : parseDateTime('expires', options.expires);
    const scope = normalizeScope(options.scope ?? 'openid');
    return async ({ dataSource }) => {
      const { grant, user, value } = await dataSource.transaction(async (manager) => {
        const owner = await findUser(manager, options.user);
        return createGrant(manager, {
          kind,
          userId: owner.id,
          providerId,
          scope,
          expires,
          revoked: options.revoked,
        });
      });
      return {
        json: {
          type: kind,
          pk: grant.id,
          user: user.username,
          provider: grant.providerId,
          scope: grant.scope,
          expires: grant.expires?.toISOString() ?? null,
          revoked: grant.revoked,
          value,
        },
        text: [
          `Created ${grant.revoked ? 'revoked ' : ''}${NOUN[kind]} ${grant.id} for "${user.username}" from provider ` +
            `${grant.providerId}, scope "${grant.scope}", expiring ${grant.expires?.toISOString() ?? 'never'}.`,
          'Value (shown only now):',
          `  ${value}`,
        ].join('\n'),
      };
    };
  },
});

/** How long the CLI waits for a scheduled cleanup running elsewhere to hand over the job's lock. */
const CLEANUP_WAIT_MS = 60_000;

export const grantsCleanup = defineCommand({
  name: 'grants cleanup',
  summary:
    'Delete the access tokens, refresh tokens and authorization codes whose expiry passed more than GRANT_RETENTION ' +
    'ago (what the servers do every GRANT_CLEANUP_INTERVAL_SECONDS), and print how many of each.',
  options: {
    'dry-run': { type: 'boolean', description: 'only count what would be deleted; delete nothing' },
    retention: {
      type: 'string',
      valueName: 'DURATION',
      description:
        'keep grants expired for less than this, e.g. "days=30" (default: GRANT_RETENTION, "days=7")',
    },
  },
  notes:
    'Non-expiring grants are never deleted; revoked grants are deleted once expired long enough, like the others. ' +
    'Also forgets redeemed authorization codes a day past their expiry (the window in which a replay of one ' +
    'revokes the tokens issued from it). ' +
    'Runs in batches of 5,000 rows. When a server is cleaning at that moment, waits (up to a minute) for it to ' +
    'hand over, then exits 1 with "another instance is cleaning" if it did not.',
  prepare(options) {
    const dryRun = options['dry-run'];
    const given = options.retention;
    // An unparseable duration is an InputError: exit 1 before the database is opened.
    const retentionMs = given === undefined ? undefined : parseTimedelta(given, 'option --retention');
    return async ({ dataSource, config }) => {
      const retention = retentionMs ?? config.grantRetentionMs;
      if (dryRun) {
        const preview = await previewCleanup(dataSource, retention);
        const { counts } = preview;
        return {
          json: {
            dry_run: true,
            cutoff: preview.cutoff,
            retention_ms: retention,
            would_delete: counts,
            would_forget_code_redemptions: preview.forgottenRedemptions,
          },
          text:
            `Would delete ${counts.access} access tokens, ${counts.refresh} refresh tokens and ${counts.code} ` +
            `authorization codes expired before ${preview.cutoff}, and forget ${preview.forgottenRedemptions} ` +
            `redeemed codes past their replay window (dry run: nothing deleted).`,
        };
      }
      const report = await cleanExpiredGrants(dataSource, {
        retentionMs: retention,
        onBusy: 'wait',
        waitMs: CLEANUP_WAIT_MS,
        trigger: 'cli',
      });
      if (report === undefined) {
        throw new ArgumentError(
          `another instance is cleaning expired grants and did not hand over within ${CLEANUP_WAIT_MS / 1000} s; ` +
            'nothing deleted, try again later',
        );
      }
      const { deleted, durationsMs } = report;
      return {
        json: {
          dry_run: false,
          cutoff: report.cutoff,
          retention_ms: retention,
          deleted,
          forgotten_code_redemptions: report.forgottenRedemptions,
          durations_ms: durationsMs,
          duration_ms: report.durationMs,
          batches: report.batches,
          outcome: report.outcome,
        },
        text: [
          `Deleted ${deleted.access} access tokens (${durationsMs.access} ms), ${deleted.refresh} refresh tokens ` +
            `(${durationsMs.refresh} ms) and ${deleted.code} authorization codes (${durationsMs.code} ms) expired ` +
            `before ${report.cutoff}, and forgot ${report.forgottenRedemptions} redeemed codes past their replay ` +
            `window, in ${report.durationMs} ms.`,
          ...(report.outcome === 'busy' ? ['Another instance took over the rest of the cleanup.'] : []),
        ].join('\n'),
      };
    };
  },
});
