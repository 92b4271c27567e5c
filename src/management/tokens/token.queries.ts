import { IQueryHandler, Query, QueryHandler } from '@nestjs/cqrs';
import { DataSource } from 'typeorm';
import type { Caller } from '../../common/auth/caller';
import type { JsonBody } from '../../common/serializers/json-body';
import { noMatch } from '../common/errors';
import {
  nestingFlags,
  parseSearch,
  parseTokenFilters,
  type RawQuery,
  TokenReader,
  type TokenListParams,
} from './token-reader';

export class ListTokensQuery extends Query<JsonBody> {
  constructor(
    readonly caller: Caller,
    readonly params: TokenListParams,
  ) {
    super();
  }
}

export class RetrieveTokenQuery extends Query<JsonBody> {
  constructor(
    readonly caller: Caller,
    readonly identifier: string,
    readonly query: RawQuery,
  ) {
    super();
  }
}

/** Everyone may list: a user without view_token sees their own tokens, never a 403 (owner_field). */
@QueryHandler(ListTokensQuery)
export class ListTokensHandler implements IQueryHandler<ListTokensQuery> {
  constructor(private readonly reader: TokenReader) {}

  execute({ caller, params }: ListTokensQuery): Promise<JsonBody> {
    return this.reader.list(caller, params);
  }
}

/** A token the caller may see and that passes the query's filters and search (DRF's get_object), else 404. */
@QueryHandler(RetrieveTokenQuery)
export class RetrieveTokenHandler implements IQueryHandler<RetrieveTokenQuery> {
  constructor(
    private readonly dataSource: DataSource,
    private readonly reader: TokenReader,
  ) {}

  async execute({ caller, identifier, query }: RetrieveTokenQuery): Promise<JsonBody> {
    const filters = parseTokenFilters(query);
    const search = parseSearch(query.search);
    return this.dataSource.transaction('REPEATABLE READ', async (manager) => {
      const row = await this.reader.one(manager, caller, identifier, filters, search);
      if (!row) throw noMatch('Token');
      return this.reader.serializeOne(manager, row, nestingFlags(query));
    });
  }
}
