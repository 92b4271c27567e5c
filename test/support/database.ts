import { DataSource } from 'typeorm';
import { dataSourceOptions } from '../../src/database/data-source-options';

/** A connected DataSource on `url` for test and harness code: no statement timeout, a small pool. */
export async function openDataSource(
  url: string,
  applicationName: string,
  poolSize = 2,
): Promise<DataSource> {
  const dataSource = new DataSource(
    dataSourceOptions({ url, poolSize, statementTimeoutMs: 0, connectTimeoutMs: 5000, applicationName }),
  );
  return dataSource.initialize();
}
