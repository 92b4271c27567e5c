import { timingSafeEqual } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { DataSource } from 'typeorm';
import { sha256 } from '../../../common/crypto/secrets';
import { ApplicationEntity } from '../../../providers/application.entity';
import { OAuth2ProviderEntity, type RedirectUri } from '../../../providers/oauth2-provider.entity';
import { hasForbiddenScheme, MAX_REDIRECT_URI } from './redirect-uris';
import { formField } from './http';

/** An OAuth2 client: its provider, and the application it serves (null: the provider serves none yet). */
export interface Client {
  provider: OAuth2ProviderEntity;
  application: ApplicationEntity | null;
}

export interface ClientCredentials {
  clientId: string;
  clientSecret: string;
}

/** Client ids are at most 255 characters (the column); longer is no client, and is not looked up. */
const MAX_CLIENT_ID = 255;

/**
 * authentik's extract_client_auth: HTTP Basic when the header matches `^Basic\s{1}.+$` exactly (case-sensitive),
 * base64-decoded, split at the first `:`, each half percent-decoded (`+` stays literal); otherwise the `client_id`
 * and `client_secret` form fields. The header wins; sending both is not an error.
 */
export function readClientCredentials(request: FastifyRequest): ClientCredentials {
  const header = request.headers.authorization;
  if (typeof header === 'string' && /^Basic\s.+$/.test(header)) {
    const decoded = Buffer.from(header.slice(6), 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon >= 0) {
      return {
        clientId: percentDecode(decoded.slice(0, colon)),
        clientSecret: percentDecode(decoded.slice(colon + 1)),
      };
    }
  }
  return {
    clientId: formField(request, 'client_id') ?? '',
    clientSecret: formField(request, 'client_secret') ?? '',
  };
}

/** Python's urllib.parse.unquote: %XX sequences decoded as UTF-8, invalid ones left as they are, `+` literal. */
function percentDecode(value: string): string {
  if (!value.includes('%')) return value;
  try {
    return decodeURIComponent(value);
  } catch {
    return value.replace(/(%[0-9A-Fa-f]{2})+/g, (run) => {
      try {
        return decodeURIComponent(run);
      } catch {
        return run;
      }
    });
  }
}

/** Whether `secret` is the client's secret: its SHA-256 compared in constant time with the stored one. */
export function secretMatches(storedHash: Buffer | null, secret: string): boolean {
  if (storedHash === null || secret === '') return false;
  const presented = sha256(secret);
  return presented.length === storedHash.length && timingSafeEqual(presented, storedHash);
}

@Injectable()
export class Clients {
  constructor(private readonly dataSource: DataSource) {}

  /** The provider whose client id this is, with its application, in one query; undefined when there is none. */
  async find(clientId: string): Promise<Client | undefined> {
    if (clientId === '' || clientId.length > MAX_CLIENT_ID || clientId.includes('\0')) return undefined;
    const provider = await this.dataSource
      .createQueryBuilder(OAuth2ProviderEntity, 'p')
      .leftJoinAndMapOne('p.application', ApplicationEntity, 'a', 'a.provider_id = p.id')
      .where('p.client_id = :clientId', { clientId })
      .getOne();
    if (!provider) return undefined;
    const { application, ...rest } = provider as OAuth2ProviderEntity & { application?: ApplicationEntity };
    return { provider: rest, application: application ?? null };
  }

  /**
   * authentik's check_redirect_uri for a provider without redirect URIs: the first URI presented is saved as a strict
   * authorization URI, unless another request saved one first. Answers the provider's URIs afterwards. A URI that
   * could never be valid (not http(s), too long) is not saved.
   */
  async adoptRedirectUri(providerId: number, presented: string): Promise<RedirectUri[]> {
    let valid = presented.length <= MAX_REDIRECT_URI && !hasForbiddenScheme(presented);
    try {
      const url = new URL(presented);
      valid &&= (url.protocol === 'http:' || url.protocol === 'https:') && url.hash === '';
    } catch {
      valid = false;
    }
    const adopted: RedirectUri[] = [
      { matching_mode: 'strict', url: presented, redirect_uri_type: 'authorization' },
    ];
    const rows = await this.dataSource.query<{ redirect_uris: RedirectUri[] }[]>(
      valid
        ? // Through WITH ... SELECT: TypeORM answers a bare UPDATE ... RETURNING as [rows, count].
          `WITH saved AS (
             UPDATE oauth2_providers SET redirect_uris = CASE WHEN redirect_uris = '[]'::jsonb THEN $2::jsonb
                                                             ELSE redirect_uris END
              WHERE id = $1 RETURNING redirect_uris)
           SELECT redirect_uris FROM saved`
        : `SELECT redirect_uris FROM oauth2_providers WHERE id = $1 AND $2::jsonb IS NOT NULL`,
      [providerId, JSON.stringify(adopted)],
    );
    return rows[0]?.redirect_uris ?? [];
  }

  /** The provider of the application `slug`, for the per-application routes (discovery, end-session). */
  async findBySlug(slug: string): Promise<Client | undefined> {
    const application = await this.dataSource
      .createQueryBuilder(ApplicationEntity, 'a')
      .innerJoinAndSelect('a.provider', 'p')
      .where('a.slug = :slug', { slug })
      .getOne();
    if (!application?.provider) return undefined;
    const { provider, ...rest } = application;
    return { provider, application: rest };
  }
}
