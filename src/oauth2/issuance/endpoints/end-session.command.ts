import { Command, CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { DataSource } from 'typeorm';
import { Metrics } from '../../../metrics/metrics';
import { APPLICATION_SLUG } from '../../../providers/providers';
import type { SignedIn } from '../../../sessions/session.service';
import { MODEL, recordIssuanceEvent } from '../core/audit';
import { Clients } from '../core/clients';
import { hasForbiddenScheme, redirectUriMatches } from '../core/redirect-uris';

export type EndSessionOutcome =
  | { kind: 'not_found' }
  /** A post_logout_redirect_uri with a javascript:, data: or vbscript: scheme: authentik's 400 page. */
  | { kind: 'forbidden_scheme' }
  | {
      kind: 'ended';
      applicationName: string;
      /** The registered post-logout URI with `state` appended; undefined: show the signed-out page. */
      redirect: string | undefined;
      /** How many access tokens of the session were deleted. */
      deleted: number;
    };

/**
 * authentik's EndSessionView (RP-initiated logout) for the application `slug`: the post-logout URI is kept only when
 * it matches one of the provider's logout redirect URIs (strict or regex), and `state` is appended to it;
 * `id_token_hint` is not read. For a signed-in user, the access tokens of this provider issued in this browser session
 * are deleted, each with an audit event; the Grantry session itself stays (as authentik's does).
 */
export class EndProviderSessionCommand extends Command<EndSessionOutcome> {
  constructor(
    readonly slug: string,
    readonly signedIn: Pick<SignedIn, 'user' | 'session'> | undefined,
    readonly postLogoutRedirectUri: string | undefined,
    readonly state: string | undefined,
    readonly requestId: string,
  ) {
    super();
  }
}

@CommandHandler(EndProviderSessionCommand)
export class EndProviderSessionHandler implements ICommandHandler<EndProviderSessionCommand> {
  constructor(
    private readonly dataSource: DataSource,
    private readonly clients: Clients,
    private readonly metrics: Metrics,
  ) {}

  async execute(command: EndProviderSessionCommand): Promise<EndSessionOutcome> {
    if (!APPLICATION_SLUG.test(command.slug)) return { kind: 'not_found' };
    const client = await this.clients.findBySlug(command.slug);
    if (client === undefined || client.application === null) return { kind: 'not_found' };
    const { provider, application } = client;
    const requested = command.postLogoutRedirectUri;
    let redirect: string | undefined;
    if (requested !== undefined && requested !== '') {
      if (hasForbiddenScheme(requested)) return { kind: 'forbidden_scheme' };
      // An unregistered URI is ignored, not refused: the user still signs out, and sees Grantry's page.
      if (redirectUriMatches(provider.redirectUris, requested, 'logout')) redirect = requested;
    }
    if (redirect !== undefined && command.state !== undefined && command.state !== '') {
      redirect = `${redirect}${redirect.includes('?') ? '&' : '?'}state=${quoteAll(command.state)}`;
    }
    let deleted = 0;
    const { signedIn } = command;
    if (signedIn !== undefined) {
      deleted = await this.dataSource.transaction(async (manager) => {
        const rows = await manager.query<{ id: number; token_hash: Buffer }[]>(
          // A DELETE's rows come back through TypeORM as [rows, count]; a SELECT over the CTE answers rows alone.
          `WITH d AS (DELETE FROM oauth2_access_tokens WHERE user_id = $1 AND provider_id = $2 AND session_id = $3
                      RETURNING id, token_hash)
           SELECT id, token_hash FROM d ORDER BY id`,
          [signedIn.user.id, provider.id, signedIn.session.id],
        );
        this.metrics.grantsRevoked('access_token', rows.length, 'sign_out', manager);
        for (const row of rows) {
          await recordIssuanceEvent(manager, {
            action: 'token_revoked',
            actorUserId: signedIn.user.id,
            actorUsername: signedIn.user.username,
            model: MODEL.accessToken,
            objectPk: row.id,
            objectUserId: signedIn.user.id,
            providerId: provider.id,
            secretHash: row.token_hash,
            requestId: command.requestId,
          });
        }
        return rows.length;
      });
    }
    return { kind: 'ended', applicationName: application.name, redirect, deleted };
  }
}

/** Python's urllib.parse.quote(value, safe=''): everything but letters, digits and `_.-~` percent-encoded (UTF-8). */
export function quoteAll(value: string): string {
  const wellFormed = value.replace(
    /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g,
    '\uFFFD',
  );
  return encodeURIComponent(wellFormed).replace(
    /[!'()*]/g,
    (char) => `%${char.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}
