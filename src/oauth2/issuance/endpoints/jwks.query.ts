import { type IQueryHandler, Query, QueryHandler } from '@nestjs/cqrs';
import { DataSource } from 'typeorm';
import type { PublicJwk, SigningAlgorithm } from '../../../keys/signing-key.entity';
import { toJwk } from '../../../keys/signing-keys';
import { APPLICATION_SLUG } from '../../../providers/providers';

/** authentik's JWKS body: `{"keys": [...]}`, or `{}` for a provider with no signing key (authentik's HS256 case). */
export type JwksBody = { keys: Record<string, string>[] } | Record<string, never>;

/** The JWKS of the OAuth2 provider of the application `slug`; null when there is no such application or provider. */
export class GetJwksQuery extends Query<JwksBody | null> {
  constructor(readonly slug: string) {
    super();
  }
}

@QueryHandler(GetJwksQuery)
export class GetJwksHandler implements IQueryHandler<GetJwksQuery> {
  constructor(private readonly dataSource: DataSource) {}

  async execute(query: GetJwksQuery): Promise<JwksBody | null> {
    // No application has any other slug; and PostgreSQL refuses some strings outright (a NUL byte), which must not
    // turn a lookup into a 500.
    if (!APPLICATION_SLUG.test(query.slug)) return null;
    // Only public columns: the sealed private key is never read here.
    const rows = await this.dataSource.query<
      { algorithm: SigningAlgorithm | null; kid: string | null; public_jwk: PublicJwk | null }[]
    >(
      `SELECT k.algorithm, k.kid, k.public_jwk
         FROM applications a
         JOIN oauth2_providers p ON p.id = a.provider_id
         LEFT JOIN signing_keys k ON k.kp_uuid = p.signing_key
        WHERE a.slug = $1`,
      [query.slug],
    );
    const row = rows[0];
    if (row === undefined) return null;
    if (row.algorithm === null || row.kid === null || row.public_jwk === null) return {};
    return { keys: [toJwk({ algorithm: row.algorithm, kid: row.kid, publicJwk: row.public_jwk })] };
  }
}
