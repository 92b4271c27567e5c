import { HttpException, HttpStatus, Inject } from '@nestjs/common';
import { type IQueryHandler, Query, QueryHandler } from '@nestjs/cqrs';
import { DataSource } from 'typeorm';
import { type Caller, callerCan, callerIsSuperuser, callerUserId } from '../../common/auth/caller';
import { ValidationApiError } from '../../common/errors/api-error';
import { type OrderTerm, parseOrdering, withPrimaryKey } from '../../common/list-query/ordering';
import { pagination, resolvePage } from '../../common/pagination/pagination';
import { APP_CONFIG, type AppConfig } from '../../config/config';
import { ApplicationEntity } from '../../providers/application.entity';
import { permissionDenied } from '../common/errors';
import {
  booleanFilter,
  exactFilter,
  lastValue,
  likePattern,
  pageParams,
  type RawQuery,
  searchTerms,
} from '../providers/list-query';
import { findApplication } from './application.commands';
import {
  APPLICATION_PERMISSION,
  type ApplicationBody,
  applicationBodies,
  launchUser,
} from './application-store';

export interface ApplicationPage {
  pagination: ReturnType<typeof pagination>;
  results: ApplicationBody[];
  autocomplete: Record<string, never>;
}

export class ListApplicationsQuery extends Query<ApplicationPage> {
  constructor(
    readonly caller: Caller,
    readonly query: RawQuery,
  ) {
    super();
  }
}

export class RetrieveApplicationQuery extends Query<ApplicationBody> {
  constructor(
    readonly caller: Caller,
    readonly slug: string,
  ) {
    super();
  }
}

const ORDERING = {
  pk: 'a.id',
  name: 'a.name',
  slug: 'a.slug',
  provider: 'a.provider_id',
  open_in_new_tab: 'a.open_in_new_tab',
  meta_launch_url: 'a.meta_launch_url',
  meta_icon: 'a.meta_icon',
  meta_description: 'a.meta_description',
  meta_publisher: 'a.meta_publisher',
  policy_engine_mode: 'a.policy_engine_mode',
  group: 'a.group',
} as const;
type OrderingField = keyof typeof ORDERING;
const DEFAULT_ORDERING: OrderTerm<OrderingField>[] = [{ field: 'name', descending: false }];
const FILTERS = ['name', 'slug', 'meta_launch_url', 'meta_description', 'meta_publisher', 'group'] as const;

/**
 * Applications a user may use (src/oauth2/issuance/access/application-access.ts): no bound group, or a bound group
 * the user is in, directly or below it. `$USER` is replaced by the parameter name.
 */
const USABLE = `(
  NOT EXISTS (SELECT 1 FROM application_groups ag WHERE ag.application_id = a.id)
  OR EXISTS (
    WITH RECURSIVE reach AS (
      SELECT ug.group_id AS id FROM user_groups ug WHERE ug.user_id = :listUser
      UNION
      SELECT g.parent_id FROM groups g JOIN reach r ON g.id = r.id WHERE g.parent_id IS NOT NULL
    )
    SELECT 1 FROM application_groups ag JOIN reach r ON r.id = ag.group_id WHERE ag.application_id = a.id
  )
)`;

/**
 * authentik's ApplicationViewSet.list: every authenticated user may list, and sees the applications the policy
 * engine lets them use. Grantry's policies are group bindings: a superuser sees every application, anyone else those
 * they may sign in to. `superuser_full_list=true` (superusers) is the plain list; `for_user=<pk>` lists what that
 * user may use (needs authentik_core.view_user_applications); `only_with_launch_url=true` drops, after paging as
 * authentik does, the applications without a launch URL. Unlike authentik, the bindings are applied before paging,
 * so `count` is what the user can see.
 */
@QueryHandler(ListApplicationsQuery)
export class ListApplicationsHandler implements IQueryHandler<ListApplicationsQuery> {
  constructor(
    private readonly dataSource: DataSource,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  async execute({ caller, query }: ListApplicationsQuery): Promise<ApplicationPage> {
    const manager = this.dataSource.manager;
    const { page, pageSize } = pageParams(query, this.config.pageSizeDefault, this.config.pageSizeMax);
    let evaluated: number | null = callerIsSuperuser(caller) ? null : callerUserId(caller);
    const forUser = lastValue(query.for_user);
    if (forUser !== undefined && forUser !== '') {
      if (!/^\s*[+-]?\d+\s*$/.test(forUser)) {
        // authentik: int() raises ValueError, turned into a bare list 400.
        throw new HttpException(['Invalid input.'], HttpStatus.BAD_REQUEST);
      }
      const id = Number(forUser.trim());
      const visible =
        callerCan(caller, 'authentik_core.view_user_applications') &&
        Number.isSafeInteger(id) &&
        Math.abs(id) <= 2_147_483_647 &&
        (await manager.query<unknown[]>('SELECT 1 FROM users WHERE id = $1', [id])).length > 0;
      if (!visible) {
        throw new ValidationApiError({ for_user: 'User not found' } as unknown as Record<string, string[]>);
      }
      evaluated = id;
    } else if (booleanFilter(query, 'superuser_full_list') === true && callerIsSuperuser(caller)) {
      evaluated = null;
    }
    const builder = manager.createQueryBuilder(ApplicationEntity, 'a').select('a.id', 'id');
    let n = 0;
    const where = (sql: string, value: unknown): void => {
      n += 1;
      builder.andWhere(sql.replaceAll(':v', `:v${n}`), { [`v${n}`]: value });
    };
    for (const name of FILTERS) {
      const value = exactFilter(query, name);
      if (value !== undefined) where(`a."${name}" = :v`, value.replaceAll('\0', ''));
    }
    for (const term of searchTerms(query)) {
      where(`(${FILTERS.map((name) => `a."${name}" ILIKE :v`).join(' OR ')})`, likePattern(term));
    }
    if (evaluated !== null) builder.andWhere(USABLE, { listUser: evaluated });
    const count = await builder.getCount();
    const current = resolvePage(page, count, pageSize);
    const ordering = withPrimaryKey(
      parseOrdering<OrderingField>(
        lastValue(query.ordering),
        Object.keys(ORDERING) as OrderingField[],
        DEFAULT_ORDERING,
      ),
      'pk',
    );
    for (const term of ordering) {
      builder.addOrderBy(ORDERING[term.field], term.descending ? 'DESC' : 'ASC');
    }
    const rows = await builder
      .offset((current - 1) * pageSize)
      .limit(pageSize)
      .getRawMany<{ id: string }>();
    let results = await applicationBodies(
      manager,
      rows.map((row) => row.id),
      await launchUser(manager, evaluated ?? callerUserId(caller)),
    );
    if (booleanFilter(query, 'only_with_launch_url') === true) {
      results = results.filter((body) => body.launch_url !== null && body.launch_url !== '');
    }
    return { pagination: pagination(current, count, pageSize), results, autocomplete: {} };
  }
}

@QueryHandler(RetrieveApplicationQuery)
export class RetrieveApplicationHandler implements IQueryHandler<RetrieveApplicationQuery> {
  constructor(private readonly dataSource: DataSource) {}

  async execute({ caller, slug }: RetrieveApplicationQuery): Promise<ApplicationBody> {
    if (!callerCan(caller, APPLICATION_PERMISSION.view)) throw permissionDenied();
    const manager = this.dataSource.manager;
    const application = await findApplication(manager, slug, false);
    const [body] = await applicationBodies(
      manager,
      [application.id],
      await launchUser(manager, callerUserId(caller)),
    );
    if (!body) throw new Error('application vanished');
    return body;
  }
}

export const APPLICATION_QUERY_HANDLERS = [ListApplicationsHandler, RetrieveApplicationHandler];
