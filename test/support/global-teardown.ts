export default async function globalTeardown(): Promise<void> {
  await globalThis.__GRANTRY_TEST_PG__?.stop();
}
