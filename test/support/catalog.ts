import type { DataSource } from 'typeorm';

/** Anything that runs a query: a DataSource or a pg Client wrapped to match. */
type Sql = Pick<DataSource, 'query'>;

/**
 * The public schema as the catalog describes it: columns, indexes, constraints, triggers, functions, sequences,
 * views, types and extensions, each as sorted lines, so two databases can be compared with toEqual and a difference
 * reads as the object that differs.
 */
export async function schemaDump(sql: Sql): Promise<Record<string, string[]>> {
  const lines = async (query: string): Promise<string[]> =>
    (await sql.query<{ line: string }[]>(query)).map((row) => row.line).sort();
  return {
    columns: await lines(
      `SELECT concat_ws(' | ', table_name, ordinal_position, column_name, data_type, udt_name, is_nullable,
                        column_default, character_maximum_length, numeric_precision, is_identity, is_generated,
                        generation_expression) AS line
         FROM information_schema.columns WHERE table_schema = 'public'`,
    ),
    indexes: await lines(
      `SELECT tablename || ' | ' || indexname || ' | ' || indexdef AS line FROM pg_indexes WHERE schemaname = 'public'`,
    ),
    constraints: await lines(
      `SELECT c.conrelid::regclass::text || ' | ' || c.conname || ' | ' || c.contype::text || ' | ' ||
              pg_get_constraintdef(c.oid) ||
              CASE WHEN c.condeferrable THEN ' DEFERRABLE' ELSE '' END AS line
         FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace WHERE n.nspname = 'public'`,
    ),
    triggers: await lines(
      `SELECT t.tgrelid::regclass::text || ' | ' || pg_get_triggerdef(t.oid) || ' | ' || t.tgenabled::text AS line
         FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public' AND NOT t.tgisinternal`,
    ),
    functions: await lines(
      `SELECT p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ') | ' ||
              md5(pg_get_functiondef(p.oid)) AS line
         FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname = 'public' AND p.prokind IN ('f', 'p')`,
    ),
    sequences: await lines(
      `SELECT concat_ws(' | ', sequence_name, data_type, start_value, minimum_value, maximum_value, increment,
                        cycle_option) AS line
         FROM information_schema.sequences WHERE sequence_schema = 'public'`,
    ),
    views: await lines(
      `SELECT viewname || ' | ' || md5(definition) AS line FROM pg_views WHERE schemaname = 'public'`,
    ),
    types: await lines(
      `SELECT t.typname || ' | ' || t.typtype::text AS line FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
        WHERE n.nspname = 'public' AND t.typtype IN ('e', 'd', 'r')`,
    ),
    extensions: await lines(`SELECT extname || ' | ' || extversion AS line FROM pg_extension`),
  };
}

/** The ordinary tables of the public schema, by name. */
export async function publicTables(sql: Sql): Promise<string[]> {
  const rows = await sql.query<{ name: string }[]>(
    `SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') ORDER BY c.relname`,
  );
  return rows.map((row) => row.name);
}

/** Each public table's columns, in order. */
export async function tableColumns(sql: Sql): Promise<Map<string, string[]>> {
  const rows = await sql.query<{ table: string; column: string }[]>(
    `SELECT table_name AS table, column_name AS column FROM information_schema.columns
      WHERE table_schema = 'public' ORDER BY table_name, ordinal_position`,
  );
  const columns = new Map<string, string[]>();
  for (const row of rows) columns.set(row.table, [...(columns.get(row.table) ?? []), row.column]);
  return columns;
}

const quote = (name: string): string => `"${name.replace(/"/g, '""')}"`;

/**
 * The rows of `table` over `columns` as one digest: md5 of every row's text form, sorted by that text (so no key
 * is needed and the physical order does not matter), plus the row count. `where` keeps only some rows.
 */
export async function rowDigest(
  sql: Sql,
  table: string,
  columns: readonly string[],
  where = 'true',
  schema = 'public',
): Promise<{ rows: number; md5: string }> {
  const row = `ROW(${columns.map(quote).join(', ')})::text`;
  const [result] = await sql.query<{ rows: number; md5: string }[]>(
    `SELECT count(*)::int AS rows, coalesce(md5(string_agg(r, E'\\n' ORDER BY r COLLATE "C")), '') AS md5
       FROM (SELECT ${row} AS r FROM ${quote(schema)}.${quote(table)} WHERE ${where}) s`,
  );
  return result ?? { rows: 0, md5: '' };
}
