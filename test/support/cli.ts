import type { INestApplicationContext } from '@nestjs/common';
import { CommandBus, QueryBus } from '@nestjs/cqrs';
import type { DataSource } from 'typeorm';
import { openGrantsContext, openManagementContext } from '../../src/cli/bus';
import type { Command } from '../../src/cli/args';
import { loadConfig } from '../../src/config/config';
import { TEST_SECRET_KEY, testSealer } from './app';

/**
 * Runs a CLI command in this process, on the test database, exactly as bin/grantry would (the same bus and handlers),
 * and returns its --json output.
 */
export async function runCli(
  dataSource: DataSource,
  command: Command,
  argv: string[],
): Promise<Record<string, unknown>> {
  const { run } = await command.parse(argv);
  if (run === undefined) throw new Error(`${command.name}: nothing to run`);
  let context: Promise<INestApplicationContext> | undefined;
  const config = loadConfig({ NODE_ENV: 'test', SECRET_KEY: TEST_SECRET_KEY });
  let grantsContext: Promise<INestApplicationContext> | undefined;
  try {
    const output = await run({
      dataSource,
      config,
      stdout: process.stdout,
      stderr: process.stderr,
      sealer: () => Promise.resolve(testSealer()),
      bus: async () => {
        context ??= openManagementContext(config, dataSource, testSealer());
        return (await context).get(CommandBus);
      },
      // Nothing signals this process's commands: their work runs to its end.
      interruptible: (work) => work(new AbortController().signal),
      grants: async () => {
        const opened = await (grantsContext ??= openGrantsContext(config, dataSource));
        return { commandBus: opened.get(CommandBus), queryBus: opened.get(QueryBus) };
      },
    });
    return output.json;
  } finally {
    if (context) await (await context).close();
    if (grantsContext) await (await grantsContext).close();
  }
}
