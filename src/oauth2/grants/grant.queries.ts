import {
  Command,
  CommandHandler,
  type ICommandHandler,
  type IQueryHandler,
  Query,
  QueryHandler,
} from '@nestjs/cqrs';
import type { Principal } from '../../common/auth/principal';
import type { JsonBody } from '../../common/serializers/json-body';
import { type ExportFormat, type GrantExport, GrantExporter } from './grant-export';
import type { GrantKind } from './grant-kind';
import { GrantStore } from './grant-store';
import type { FilterParams, ListParams } from './list-params';
import { grantTypeOf, Metrics } from '../../metrics/metrics';

export class ListGrantsQuery extends Query<JsonBody> {
  constructor(
    readonly kind: GrantKind,
    readonly principal: Principal,
    readonly params: ListParams,
  ) {
    super();
  }
}

export class RetrieveGrantQuery extends Query<JsonBody> {
  constructor(
    readonly kind: GrantKind,
    readonly principal: Principal,
    readonly id: number,
    readonly params: Pick<ListParams, 'filters' | 'includeGroups' | 'includeRoles'>,
  ) {
    super();
  }
}

export class GrantUsedByQuery extends Query<[]> {
  constructor(
    readonly kind: GrantKind,
    readonly principal: Principal,
    readonly id: number,
    readonly filters: FilterParams,
  ) {
    super();
  }
}

/** Revoking a grant removes it (as authentik's destroy does) and records an audit event. */
export class DeleteGrantCommand extends Command<void> {
  constructor(
    readonly kind: GrantKind,
    readonly principal: Principal,
    readonly id: number,
    readonly filters: FilterParams,
    readonly requestId: string | undefined,
  ) {
    super();
  }
}

@QueryHandler(ListGrantsQuery)
export class ListGrantsHandler implements IQueryHandler<ListGrantsQuery> {
  constructor(private readonly store: GrantStore) {}
  execute(query: ListGrantsQuery): Promise<JsonBody> {
    return this.store.list(query.kind, query.principal, query.params);
  }
}

@QueryHandler(RetrieveGrantQuery)
export class RetrieveGrantHandler implements IQueryHandler<RetrieveGrantQuery> {
  constructor(private readonly store: GrantStore) {}
  execute(query: RetrieveGrantQuery): Promise<JsonBody> {
    return this.store.retrieve(query.kind, query.principal, query.id, query.params);
  }
}

@QueryHandler(GrantUsedByQuery)
export class GrantUsedByHandler implements IQueryHandler<GrantUsedByQuery> {
  constructor(private readonly store: GrantStore) {}
  execute(query: GrantUsedByQuery): Promise<[]> {
    return this.store.usedBy(query.kind, query.principal, query.id, query.filters);
  }
}

@CommandHandler(DeleteGrantCommand)
export class DeleteGrantHandler implements ICommandHandler<DeleteGrantCommand> {
  constructor(
    private readonly store: GrantStore,
    private readonly metrics: Metrics,
  ) {}
  async execute(command: DeleteGrantCommand): Promise<void> {
    await this.store.delete(command.kind, command.principal, command.id, command.filters, command.requestId);
    // store.delete deletes exactly one row or throws; it has committed by now.
    this.metrics.grantsRevoked(grantTypeOf(command.kind), 1, 'api_delete');
  }
}

/** The grants the list would show, as a stream of flat rows (see GrantExporter). */
export class ExportGrantsQuery extends Query<GrantExport> {
  constructor(
    readonly kind: GrantKind,
    readonly principal: Principal,
    readonly filters: FilterParams,
    readonly search: string[],
    readonly format: ExportFormat,
  ) {
    super();
  }
}

@QueryHandler(ExportGrantsQuery)
export class ExportGrantsHandler implements IQueryHandler<ExportGrantsQuery> {
  constructor(private readonly exporter: GrantExporter) {}
  execute(query: ExportGrantsQuery): Promise<GrantExport> {
    return this.exporter.open(query.kind, query.principal, query.filters, query.search, query.format);
  }
}
