import { Inject } from '@nestjs/common';
import { IQueryHandler, Query, QueryHandler } from '@nestjs/cqrs';
import { DataSource } from 'typeorm';
import { type Caller, callerCan, callerUserId } from '../../common/auth/caller';
import { type OrderTerm, parseOrdering, withPrimaryKey } from '../../common/list-query/ordering';
import { pagination, resolvePage } from '../../common/pagination/pagination';
import { DEFAULT_ACR } from '../../common/serializers/id-token';
import { isUuid } from '../../common/validation/fields';
import { APP_CONFIG, type AppConfig } from '../../config/config';
import { InstallEntity } from '../../identity/install.entity';
import { Sealer } from '../../keys/sealing';
import { SigningKeyEntity } from '../../keys/signing-key.entity';
import { issuerFor, subjectFor } from '../../oauth2/common/grants';
import { MAPPED_SCOPES, scopeClaims } from '../../oauth2/issuance/core/scopes';
import { TokenIssuer } from '../../oauth2/issuance/core/token-issuer';
import { ApplicationEntity } from '../../providers/application.entity';
import {
  CLIENT_TYPES,
  ISSUER_MODES,
  OAuth2ProviderEntity,
  SUB_MODES,
} from '../../providers/oauth2-provider.entity';
import { parseTimedelta } from '../../providers/timedelta';
import { noMatch, permissionDenied } from '../common/errors';
import { ValidationApiError } from '../../common/errors/api-error';
import {
  booleanFilter,
  choiceFilter,
  exactFilter,
  INVALID_MODEL_CHOICE,
  invalidChoice,
  likePattern,
  lastValue,
  pageParams,
  type RawQuery,
  searchTerms,
  throwIfErrors,
} from './list-query';
import { PROVIDER_PERMISSION } from './provider.commands';
import { type ProviderBody, providerBodies, providerBody } from './provider-store';

export interface ProviderPage {
  pagination: ReturnType<typeof pagination>;
  results: ProviderBody[];
  autocomplete: Record<string, never>;
}

export class ListProvidersQuery extends Query<ProviderPage> {
  constructor(
    readonly caller: Caller,
    readonly query: RawQuery,
  ) {
    super();
  }
}

export class RetrieveProviderQuery extends Query<ProviderBody> {
  constructor(
    readonly caller: Caller,
    readonly id: number,
  ) {
    super();
  }
}

export interface SetupUrls {
  issuer: string | null;
  authorize: string;
  token: string;
  user_info: string;
  provider_info: string | null;
  logout: string | null;
  jwks?: string;
}

export class ProviderSetupUrlsQuery extends Query<SetupUrls> {
  constructor(
    readonly caller: Caller,
    readonly id: number,
    /** PUBLIC_URL, else the request's origin (as the discovery document builds its URLs). */
    readonly base: string,
  ) {
    super();
  }
}

export class PreviewProviderUserQuery extends Query<{ preview: Record<string, unknown> }> {
  constructor(
    readonly caller: Caller,
    readonly id: number,
    readonly forUser: string | undefined,
    readonly base: string,
  ) {
    super();
  }
}

/** Ordering terms: the serializer's model fields (reference §5), `.` written as `__`. */
const ORDERING = {
  pk: 'p.id',
  name: 'p.name',
  authentication_flow: 'p.authentication_flow',
  authorization_flow: 'p.authorization_flow',
  invalidation_flow: 'p.invalidation_flow',
  client_type: 'p.client_type',
  client_id: 'p.client_id',
  access_code_validity: 'p.access_code_validity',
  access_token_validity: 'p.access_token_validity',
  refresh_token_validity: 'p.refresh_token_validity',
  refresh_token_threshold: 'p.refresh_token_threshold',
  include_claims_in_id_token: 'p.include_claims_in_id_token',
  signing_key: 'p.signing_key',
  encryption_key: 'p.encryption_key',
  logout_uri: 'p.logout_uri',
  logout_method: 'p.logout_method',
  sub_mode: 'p.sub_mode',
  issuer_mode: 'p.issuer_mode',
  application__slug: 'a.slug',
  application__name: 'a.name',
} as const;
type OrderingField = keyof typeof ORDERING;
const DEFAULT_ORDERING: OrderTerm<OrderingField>[] = [{ field: 'name', descending: false }];

@QueryHandler(ListProvidersQuery)
export class ListProvidersHandler implements IQueryHandler<ListProvidersQuery> {
  constructor(
    private readonly dataSource: DataSource,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  async execute({ caller, query }: ListProvidersQuery): Promise<ProviderPage> {
    if (!callerCan(caller, PROVIDER_PERMISSION.view)) throw permissionDenied();
    const { page, pageSize } = pageParams(query, this.config.pageSizeDefault, this.config.pageSizeMax);
    const errors: Record<string, string[]> = {};
    const builder = this.dataSource
      .createQueryBuilder(OAuth2ProviderEntity, 'p')
      .leftJoin(ApplicationEntity, 'a', 'a.provider_id = p.id')
      .select('p.id', 'id');
    let n = 0;
    const where = (sql: string, value: unknown): void => {
      n += 1;
      builder.andWhere(sql.replace(':v', `:v${n}`), { [`v${n}`]: value });
    };
    for (const [param, column] of [
      ['name', 'p.name'],
      ['client_id', 'p.client_id'],
      ['access_code_validity', 'p.access_code_validity'],
      ['access_token_validity', 'p.access_token_validity'],
      ['refresh_token_validity', 'p.refresh_token_validity'],
    ] as const) {
      const value = exactFilter(query, param);
      if (value !== undefined) where(`${column} = :v`, value.replaceAll('\0', ''));
    }
    for (const [param, choices] of [
      ['client_type', CLIENT_TYPES],
      ['sub_mode', SUB_MODES],
      ['issuer_mode', ISSUER_MODES],
    ] as const) {
      const value = choiceFilter(query, param, choices, errors);
      if (value !== undefined && errors[param] === undefined) where(`p.${param} = :v`, value);
    }
    const claims = booleanFilter(query, 'include_claims_in_id_token');
    if (claims !== undefined) where('p.include_claims_in_id_token = :v', claims);
    // Flows: Grantry has none, so any UUID names one (the value stored and echoed); a malformed one cannot.
    const flow = exactFilter(query, 'authorization_flow');
    if (flow !== undefined) {
      if (isUuid(flow)) where('p.authorization_flow = :v', flow.toLowerCase());
      else errors.authorization_flow = [INVALID_MODEL_CHOICE];
    }
    const key = exactFilter(query, 'signing_key');
    if (key !== undefined) {
      if (
        isUuid(key) &&
        (await this.dataSource.manager.existsBy(SigningKeyEntity, { kpUuid: key.toLowerCase() }))
      ) {
        where('p.signing_key = :v', key.toLowerCase());
      } else errors.signing_key = [INVALID_MODEL_CHOICE];
    }
    const application = exactFilter(query, 'application');
    if (application !== undefined) {
      if (
        isUuid(application) &&
        (await this.dataSource.manager.existsBy(ApplicationEntity, { id: application }))
      ) {
        where('a.id = :v', application.toLowerCase());
      } else errors.application = [INVALID_MODEL_CHOICE];
    }
    // Grantry has no property mappings: any value is a choice that does not exist.
    const mappings = query.property_mappings;
    const mapping = (Array.isArray(mappings) ? mappings : [mappings]).find(
      (v) => v !== undefined && v !== '',
    );
    if (mapping !== undefined) errors.property_mappings = [invalidChoice(mapping)];
    throwIfErrors(errors);
    for (const term of searchTerms(query)) where(`p.name ILIKE :v`, likePattern(term));
    const ordering = withPrimaryKey(
      parseOrdering<OrderingField>(
        lastValue(query.ordering),
        Object.keys(ORDERING) as OrderingField[],
        DEFAULT_ORDERING,
      ),
      'pk',
    );
    const count = await builder.getCount();
    const current = resolvePage(page, count, pageSize);
    for (const term of ordering) {
      builder.addOrderBy(
        ORDERING[term.field],
        term.descending ? 'DESC' : 'ASC',
        term.descending ? 'NULLS FIRST' : 'NULLS LAST',
      );
    }
    const rows = await builder
      .offset((current - 1) * pageSize)
      .limit(pageSize)
      .getRawMany<{ id: number }>();
    const ids = rows.map((row) => row.id);
    const bodies = await providerBodies(this.dataSource.manager, ids);
    return {
      pagination: pagination(current, count, pageSize),
      results: ids.flatMap((id) => {
        const body = bodies.get(id);
        return body ? [body] : [];
      }),
      autocomplete: {},
    };
  }
}

@QueryHandler(RetrieveProviderQuery)
export class RetrieveProviderHandler implements IQueryHandler<RetrieveProviderQuery> {
  constructor(private readonly dataSource: DataSource) {}

  async execute({ caller, id }: RetrieveProviderQuery): Promise<ProviderBody> {
    if (!callerCan(caller, PROVIDER_PERMISSION.view)) throw permissionDenied();
    if (!(await this.dataSource.manager.existsBy(OAuth2ProviderEntity, { id })))
      throw noMatch('OAuth2Provider');
    return providerBody(this.dataSource.manager, id);
  }
}

/**
 * authentik's setup_urls: the endpoints a client is configured with. authentik serves them to anyone (no RBAC);
 * Grantry asks for view_oauth2provider, as for the provider itself (README: differences).
 */
@QueryHandler(ProviderSetupUrlsQuery)
export class ProviderSetupUrlsHandler implements IQueryHandler<ProviderSetupUrlsQuery> {
  constructor(private readonly dataSource: DataSource) {}

  async execute({ caller, id, base }: ProviderSetupUrlsQuery): Promise<SetupUrls> {
    if (!callerCan(caller, PROVIDER_PERMISSION.view)) throw permissionDenied();
    const provider = await this.dataSource.manager.findOneBy(OAuth2ProviderEntity, { id });
    if (!provider) throw noMatch('OAuth2Provider');
    const application = await this.dataSource.manager.findOneBy(ApplicationEntity, { providerId: id });
    const origin = base.replace(/\/+$/, '');
    const o = `${origin}/application/o`;
    const urls: SetupUrls = {
      issuer:
        provider.issuerMode === 'global' ? `${origin}/` : application ? `${o}/${application.slug}/` : null,
      authorize: `${o}/authorize/`,
      token: `${o}/token/`,
      user_info: `${o}/userinfo/`,
      provider_info: application ? `${o}/${application.slug}/.well-known/openid-configuration` : null,
      logout: application ? `${o}/${application.slug}/end-session/` : null,
    };
    if (application) urls.jwks = `${o}/${application.slug}/jwks/`;
    return urls;
  }
}

/**
 * authentik's preview_user: the ID token Grantry would issue to `for_user` (default: the caller) with every scope the
 * provider maps (Grantry's providers map all of authentik's default scopes). `for_user` needs the global
 * authentik_core.preview_user permission; authentik answers an unknown or invisible user with a bare-string 400.
 */
@QueryHandler(PreviewProviderUserQuery)
export class PreviewProviderUserHandler implements IQueryHandler<PreviewProviderUserQuery> {
  constructor(
    private readonly dataSource: DataSource,
    private readonly sealer: Sealer,
  ) {}

  async execute({
    caller,
    id,
    forUser,
    base,
  }: PreviewProviderUserQuery): Promise<{ preview: Record<string, unknown> }> {
    if (!callerCan(caller, PROVIDER_PERMISSION.view)) throw permissionDenied();
    const manager = this.dataSource.manager;
    const provider = await manager.findOneBy(OAuth2ProviderEntity, { id });
    if (!provider) throw noMatch('OAuth2Provider');
    let userId = callerUserId(caller);
    if (forUser !== undefined) {
      if (!/^\s*[+-]?\d+\s*$/.test(forUser)) {
        throw new ValidationApiError({ for_user: 'input must be numerical' } as unknown as Record<
          string,
          string[]
        >);
      }
      const wanted = Number(forUser.trim());
      if (
        !callerCan(caller, 'authentik_core.preview_user') ||
        !Number.isSafeInteger(wanted) ||
        Math.abs(wanted) > 2 ** 31 - 1
      ) {
        throw userNotFound();
      }
      userId = wanted;
    }
    const subject =
      userId === null
        ? undefined
        : await new TokenIssuer(this.dataSource, this.sealer).subject(manager, userId);
    if (!subject) throw userNotFound();
    const install = await manager.findOneByOrFail(InstallEntity, { id: 1 });
    const application = await manager.findOneBy(ApplicationEntity, { providerId: id });
    const now = new Date();
    const seconds = (date: Date): number => Math.floor(date.getTime() / 1000);
    const expires = new Date(now.getTime() + parseTimedelta(provider.accessTokenValidity));
    const preview: Record<string, unknown> = {
      iss: issuerFor(provider.issuerMode, application?.slug, base.replace(/\/+$/, '')),
      sub: subjectFor(provider.subMode, subject, install.installId),
      aud: provider.clientId,
      exp: seconds(expires),
      iat: seconds(now),
      auth_time: seconds(now),
      acr: DEFAULT_ACR,
    };
    if (provider.includeClaimsInIdToken) Object.assign(preview, scopeClaims(subject, MAPPED_SCOPES));
    return { preview };
  }
}

function userNotFound(): ValidationApiError {
  // authentik raises ValidationError({"for_user": "User not found"}) in the view: a bare string, not a list.
  return new ValidationApiError({ for_user: 'User not found' } as unknown as Record<string, string[]>);
}

export const PROVIDER_QUERY_HANDLERS = [
  ListProvidersHandler,
  RetrieveProviderHandler,
  ProviderSetupUrlsHandler,
  PreviewProviderUserHandler,
];
