import type { Pool, QueryResultRow } from 'pg';
import type { DataSource } from 'typeorm';
import type { PostgresDriver } from 'typeorm/driver/postgres/PostgresDriver.js';

/**
 * Runs a named (prepared) statement on the DataSource's pg pool. PostgreSQL parses and plans a named statement once
 * per connection instead of on every request; for the authentication statement, run before every API request, that
 * was most of its cost.
 *
 * Only for a fixed `text` (a constant, or one of a bounded set named by StatementNames): each name holds its plans
 * per pooled connection for as long as the connection lives. Not for statements whose best plan depends on their
 * parameters (most filtered list queries): after five executions PostgreSQL may settle on a generic plan, measured
 * up to 15x slower for those. A statement without parameters has one plan anyway; one with parameters must be
 * written so that its generic plan, if PostgreSQL picks it, is right for every value (the grant list's expiry range:
 * see GrantStore.pageSql).
 */
export async function preparedQuery<T extends QueryResultRow>(
  dataSource: DataSource,
  name: string,
  text: string,
  values: unknown[],
): Promise<T[]> {
  const pool = (dataSource.driver as PostgresDriver).master as Pool;
  const result = await pool.query<T>({ name, text, values });
  return result.rows;
}

/**
 * Names for statements built at run time from a bounded vocabulary (grant kind, ordering, page size), so they can be
 * prepared. At most `capacity` texts get a name, first come first served; the rest run unprepared, so no input can
 * make a connection hold an unbounded number of plans.
 */
export class StatementNames {
  private readonly names = new Map<string, string>();

  constructor(
    private readonly prefix: string,
    private readonly capacity: number,
  ) {}

  nameFor(text: string): string | undefined {
    let name = this.names.get(text);
    if (name === undefined && this.names.size < this.capacity) {
      name = `${this.prefix}_${this.names.size + 1}`;
      this.names.set(text, name);
    }
    return name;
  }
}
