import { Writable } from 'node:stream';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { DataSource } from 'typeorm';
import { openDataSource } from './database';
import { createApp } from '../../src/app';
import { type AppConfig, loadConfig } from '../../src/config/config';
import { StartupState } from '../../src/health/startup-state';
import { Sealer } from '../../src/keys/sealing';
import { createLogger } from '../../src/logging/logger';

/**
 * The SECRET_KEY of in-process test apps and of CLI runs on the shared test database (a fixed test value: the check
 * value it stores must be the same for every suite of a run).
 */
export const TEST_SECRET_KEY = '5f0c9b7e2a41d8836e1f4c0a9d2b7e6f3c8a1d4e7b0f2c5a8d1e4b7c0f3a6d9e';

/** Seals with TEST_SECRET_KEY, for factories and in-process CLI runs. */
export function testSealer(): Sealer {
  return new Sealer(TEST_SECRET_KEY);
}

/** The suite's own database: a copy of the run's migrated template, made for this test file (test-environment.ts). */
export function testDatabaseUrl(): string {
  const url = process.env.GRANTRY_TEST_DATABASE_URL;
  if (!url)
    throw new Error('GRANTRY_TEST_DATABASE_URL is not set: run the tests through jest (global setup)');
  return url;
}

/** A connected DataSource on the test database, for suites that read or write rows directly. */
export function openTestDataSource(applicationName: string, poolSize = 2): Promise<DataSource> {
  return openDataSource(testDatabaseUrl(), applicationName, poolSize);
}

/** Every log line the app wrote, for tests that check what is (not) logged. */
export class LogCapture extends Writable {
  readonly lines: string[] = [];
  override _write(chunk: Buffer, _encoding: string, callback: () => void): void {
    this.lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
    callback();
  }
  get text(): string {
    return this.lines.join('\n');
  }
}

export interface TestApp {
  app: NestFastifyApplication;
  dataSource: DataSource;
  logs: LogCapture;
  close(): Promise<void>;
}

/** The real AppModule on the test database, with the given environment overrides. Not listening unless asked. */
export async function createTestApp(env: Record<string, string> = {}, listen = false): Promise<TestApp> {
  const config: AppConfig = loadConfig({
    NODE_ENV: 'test',
    LOG_LEVEL: 'debug',
    SECRET_KEY: TEST_SECRET_KEY,
    ...env,
  });
  const logs = new LogCapture();
  const app = await createApp(config, testDatabaseUrl(), createLogger(config, logs));
  // The suite's database is a copy of the migrated template; suites make the users they need instead of main.ts's
  // bootstrap.
  app.get(StartupState).bootstrapped = true;
  if (listen) await app.listen({ port: 0, host: '127.0.0.1' });
  const dataSource = app.get(DataSource);
  // The failed-auth throttle's state lives in the database, shared like that of instances in production; the apps
  // of one suite would otherwise inherit each other's failures from 127.0.0.1. Each test app starts clean.
  // (Nest's Logger is one per process: lines logged through it land in the LogCapture of the app created last.)
  await dataSource.query('DELETE FROM auth_failures');
  await dataSource.query('DELETE FROM login_failures');
  await dataSource.query('DELETE FROM device_throttle');
  return { app, dataSource, logs, close: () => app.close() };
}

export interface InjectResult {
  status: number;
  body: unknown;
  headers: Record<string, unknown>;
  text: string;
}

export async function request(
  app: NestFastifyApplication,
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE' | 'HEAD' | 'OPTIONS',
  url: string,
  headers: Record<string, string> = {},
): Promise<InjectResult> {
  const response = await app.getHttpAdapter().getInstance().inject({ method, url, headers });
  let body: unknown = undefined;
  try {
    body = response.body === '' ? undefined : JSON.parse(response.body);
  } catch {
    body = undefined;
  }
  return { status: response.statusCode, body, headers: response.headers, text: response.body };
}

export const bearer = (key: string): Record<string, string> => ({ authorization: `Bearer ${key}` });

/** A request with a JSON body (`body` is serialized unless it is already a string, for malformed-JSON cases). */
export async function requestJson(
  app: NestFastifyApplication,
  method: 'POST' | 'PUT' | 'PATCH' | 'DELETE',
  url: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<InjectResult> {
  const response = await app
    .getHttpAdapter()
    .getInstance()
    .inject({
      method,
      url,
      headers: { 'content-type': 'application/json', ...headers },
      payload: typeof body === 'string' ? body : JSON.stringify(body),
    });
  let parsed: unknown = undefined;
  try {
    parsed = response.body === '' ? undefined : JSON.parse(response.body);
  } catch {
    parsed = undefined;
  }
  return { status: response.statusCode, body: parsed, headers: response.headers, text: response.body };
}
