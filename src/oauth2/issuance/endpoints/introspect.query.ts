import { type IQueryHandler, Query, QueryHandler } from '@nestjs/cqrs';
import { DataSource } from 'typeorm';
import { Metrics } from '../../../metrics/metrics';
import { sha256 } from '../../../common/crypto/secrets';
import { type ClientCredentials, Clients } from '../core/clients';
import { authenticateClient } from './client-auth';
import { findGrant, idTokenDict, scopeList } from './grant-lookup';

export type IntrospectionBody = Record<string, unknown> & { active: boolean };

/** What authentik answers for every token it will not describe: RFC 7662's inactive token. */
export const INACTIVE: IntrospectionBody = { active: false };

/**
 * RFC 7662 introspection as authentik's TokenIntrospectionView does it: the client authenticates (HTTP Basic or the
 * form), then `token` is looked up as one of its access tokens, then as one of its refresh tokens. A query with one
 * possible side effect: a wrong client secret is audited.
 */
export class IntrospectTokenQuery extends Query<IntrospectionBody> {
  constructor(
    readonly credentials: ClientCredentials,
    readonly token: string | undefined,
    readonly requestId: string,
  ) {
    super();
  }
}

@QueryHandler(IntrospectTokenQuery)
export class IntrospectTokenHandler implements IQueryHandler<IntrospectTokenQuery> {
  constructor(
    private readonly dataSource: DataSource,
    private readonly clients: Clients,
    private readonly metrics: Metrics,
  ) {}

  async execute(query: IntrospectTokenQuery): Promise<IntrospectionBody> {
    const auth = await authenticateClient(
      this.clients,
      this.dataSource.manager,
      query.credentials,
      query.requestId,
      this.metrics,
    );
    // A public client cannot authenticate, so it learns nothing (authentik's authenticate_provider fails it too).
    if (auth.kind !== 'authenticated') return INACTIVE;
    if (query.token === undefined || query.token === '') return INACTIVE;
    // Only this provider's tokens: authentik also finds the tokens of the providers listed in this provider's
    // jwt_federation_providers, which Grantry does not honour yet.
    const grant = await findGrant(this.dataSource.manager, sha256(query.token), auth.client.provider.id);
    if (grant === undefined || grant.expired) return INACTIVE;
    return {
      ...idTokenDict(grant.idToken),
      active: !grant.revoked,
      scope: scopeList(grant.scope).join(' '),
      client_id: auth.client.provider.clientId,
    };
  }
}
