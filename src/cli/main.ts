import 'reflect-metadata';
import type { INestApplicationContext } from '@nestjs/common';
import { CommandBus, QueryBus } from '@nestjs/cqrs';
import pino, { type Logger } from 'pino';
import { QueryFailedError } from 'typeorm';
import { ApiError, EmptyBadRequest, ValidationApiError } from '../common/errors/api-error';
import { isDatabaseUnavailable } from '../common/errors/database-errors';
import { type AppConfig, ConfigError, loadConfig } from '../config/config';
import { withUntimedDataSource } from '../database/data-source-options';
import { type DatabaseHandle, openDatabase } from '../database/database';
import { EmbeddedPostgresError } from '../database/embedded-postgres';
import { runMigrations } from '../database/migrations';
import { InputError } from '../identity/accounts';
import { checkSecretKey, resolveSecretKey } from '../keys/secret-key';
import { Sealer } from '../keys/sealing';
import { createLogger } from '../logging/logger';
import { openGrantsContext, openManagementContext } from './bus';
import {
  ArgumentError,
  type Command,
  type CommandContext,
  type CommandOutput,
  type Runner,
  Stopped,
  type StopReason,
} from './args';
import { appCreate } from './commands/app';
import { countsCheck } from './commands/counts';
import { grantCreate, grantsCleanup } from './commands/grant';
import { grantsExport, grantsRevoke } from './commands/grant-incident';
import { groupAddUser, groupCreate } from './commands/group';
import { migrate } from './commands/migrate';
import { providerCreate, providerRotateSecret } from './commands/provider';
import { roleAssign, roleCreate } from './commands/role';
import { seedCommand } from './commands/seed';
import { tokenCreate, tokenDelete, tokenRotate } from './commands/token';
import { userCreate, userSetPassword } from './commands/user';

const COMMANDS: readonly Command[] = [
  userCreate,
  userSetPassword,
  groupCreate,
  groupAddUser,
  roleCreate,
  roleAssign,
  tokenCreate,
  tokenRotate,
  tokenDelete,
  providerCreate,
  providerRotateSecret,
  appCreate,
  grantCreate,
  grantsCleanup,
  grantsRevoke,
  grantsExport,
  countsCheck,
  seedCommand,
  migrate,
];

const EXIT_USAGE = 1;
const EXIT_CONFIG = 2;
/**
 * A command told to stop: 128 + the signal's number, as a shell reports a process the signal ended; 0 when the
 * reader of stdout closed it (see writeStdout in commands/grant-incident.ts for why not SIGPIPE's 141).
 */
const EXIT_STOPPED: Record<StopReason, number> = { SIGINT: 130, SIGTERM: 143, EPIPE: 0 };

function overview(commands: readonly Command[] = COMMANDS): string {
  const width = Math.max(...commands.map((command) => command.name.length));
  return [
    'Usage: grantry <command> [options] [--json] [--verbose]',
    '       (in a checkout: npx grantry ..., or npm run cli -- ...)',
    '',
    'Grantry from the command line, on the same database as the server: DATABASE_URL when set, otherwise the',
    'embedded PostgreSQL in DATA_DIR (started for the command, or shared with a running server).',
    '',
    'Commands:',
    ...commands.map((command) => `  ${command.name.padEnd(width)}  ${command.summary}`),
    '',
    'Run "grantry <command> --help" for its options. With --json, stdout holds exactly one JSON object.',
    'Exit status: 0 done, 1 the command cannot be done as asked, 2 configuration or database unavailable,',
    '3 "counts check" found a kept count differing from its rows, 130 interrupted (SIGINT), 143 terminated',
    '(SIGTERM). A reader closing stdout early (grants export | head) ends an export quietly, with 0.',
    '',
  ].join('\n');
}

type Resolved = { command: Command; rest: string[] } | { help: string };

const GLOBAL_FLAGS = new Set(['--json', '--verbose']);

/** Commands are one word (`seed`) or two (`user create`); a group alone, or nothing at all, shows help. */
function resolve(argv: readonly string[]): Resolved {
  const at: number[] = [];
  for (let i = 0; i < argv.length && at.length < 2; i += 1) if (!GLOBAL_FLAGS.has(argv[i] ?? '')) at.push(i);
  const [firstAt = argv.length, secondAt = argv.length] = at;
  const first = argv[firstAt];
  const second = argv[secondAt];
  const rest = (after: number): string[] => [
    ...argv.slice(0, after).filter((word) => GLOBAL_FLAGS.has(word)),
    ...argv.slice(after + 1),
  ];
  const asksHelp = (word: string | undefined): boolean =>
    word === undefined || word === '--help' || word === '-h' || word === 'help';
  if (asksHelp(first)) return { help: overview() };
  const single = COMMANDS.find((command) => command.name === first);
  if (single) return { command: single, rest: rest(firstAt) };
  const group = COMMANDS.filter((command) => command.name.startsWith(`${first} `));
  if (group.length === 0) throw new ArgumentError(`unknown command "${first}" (see --help)`);
  const command = group.find((candidate) => candidate.name === `${first} ${second}`);
  if (command) return { command, rest: rest(secondAt) };
  if (asksHelp(second)) return { help: overview(group) };
  const names = group.map((candidate) => candidate.name.split(' ')[1]).join(', ');
  throw new ArgumentError(
    second?.startsWith('-')
      ? `"${first}" needs a subcommand: ${names}`
      : `unknown command "${first} ${second}" (${first} has: ${names})`,
  );
}

async function execute(
  config: AppConfig,
  logger: Logger,
  command: Command,
  run: Runner,
  opened: (handle: DatabaseHandle) => void,
  interruptible: CommandContext['interruptible'],
): Promise<CommandOutput> {
  const handle = await openDatabase(config, logger);
  opened(handle);
  try {
    // The migration lock holds one connection while the migrations run on another; a seed's statements
    // legitimately run for many seconds, so the server's request timeout does not apply.
    const settings = {
      url: handle.url,
      poolSize: 3,
      connectTimeoutMs: config.dbConnectTimeoutMs,
      applicationName: 'grantry-cli',
    };
    return await withUntimedDataSource(settings, async (dataSource) => {
      if (!command.migratesItself) {
        const applied = await runMigrations(dataSource);
        if (applied.length > 0) logger.info({ migrations: applied }, 'applied migrations');
      }
      let sealer: Promise<Sealer> | undefined;
      const openSealer = async (): Promise<Sealer> => {
        const secretKey = resolveSecretKey(config, logger);
        await checkSecretKey(dataSource.manager, secretKey);
        return new Sealer(secretKey);
      };
      const openSealerOnce = (): Promise<Sealer> => (sealer ??= openSealer());
      let context: Promise<INestApplicationContext> | undefined;
      const bus = async (): Promise<CommandBus> => {
        context ??= openSealerOnce().then((opened) => openManagementContext(config, dataSource, opened));
        return (await context).get(CommandBus);
      };
      let grantsContext: Promise<INestApplicationContext> | undefined;
      const grants = async (): Promise<{ commandBus: CommandBus; queryBus: QueryBus }> => {
        const opened = await (grantsContext ??= openGrantsContext(config, dataSource));
        return { commandBus: opened.get(CommandBus), queryBus: opened.get(QueryBus) };
      };
      try {
        return await run({
          dataSource,
          config,
          stdout: process.stdout,
          stderr: process.stderr,
          sealer: openSealerOnce,
          bus,
          grants,
          interruptible,
        });
      } finally {
        if (context) await (await context).close();
        if (grantsContext) await (await grantsContext).close();
      }
    });
  } finally {
    await handle.embedded?.stop();
  }
}

function classify(error: unknown, verbose: boolean): { message: string; code: number } {
  // Told to stop, and stopped cleanly: its message (none for a closed stdout) and the reason's status.
  if (error instanceof Stopped) return { message: error.message, code: EXIT_STOPPED[error.reason] };
  if (error instanceof ArgumentError || error instanceof InputError) {
    return { message: error.message, code: EXIT_USAGE };
  }
  // A management command's 400 (the CLI dispatches the API's commands): each field with its messages.
  if (error instanceof ValidationApiError) {
    const fields = Object.entries(error.errors).map(([field, messages]) => {
      const text =
        Array.isArray(messages) && messages.every((m) => typeof m === 'string')
          ? messages.join(' ')
          : JSON.stringify(messages);
      return field === 'non_field_errors' ? text : `${field}: ${text}`;
    });
    return { message: fields.join('; '), code: EXIT_USAGE };
  }
  // A management command's bare 400 (set_password/, set_key/): the reason it carries for the CLI.
  if (error instanceof EmptyBadRequest) return { message: error.message, code: EXIT_USAGE };
  // A management command's 403/404: its detail.
  if (error instanceof ApiError) {
    return { message: (error.getResponse() as { detail: string }).detail, code: EXIT_USAGE };
  }
  if (error instanceof ConfigError || error instanceof EmbeddedPostgresError) {
    return { message: error.message, code: EXIT_CONFIG };
  }
  const message = error instanceof Error ? error.message : String(error);
  if (isDatabaseUnavailable(error))
    return { message: `the database is unavailable: ${message}`, code: EXIT_CONFIG };
  // Two writers raced for the same name: the same answer as the existence checks give, less precisely worded.
  if (error instanceof QueryFailedError && (error.driverError as { code?: string }).code === '23505') {
    return { message: `that already exists (${message})`, code: EXIT_USAGE };
  }
  return {
    message: verbose && error instanceof Error && error.stack ? error.stack : `unexpected error: ${message}`,
    code: EXIT_USAGE,
  };
}

export async function main(argv: readonly string[]): Promise<number> {
  const json = argv.includes('--json');
  const verbose = argv.includes('--verbose');
  const errorLine = (message: string): string =>
    json ? `${JSON.stringify({ error: message })}\n` : `error: ${message}\n`;
  const print = (output: CommandOutput): void => {
    const destination = output.to === 'stderr' ? process.stderr : process.stdout;
    destination.write(json ? `${JSON.stringify(output.json)}\n` : `${output.text.trimEnd()}\n`);
  };
  let handle: DatabaseHandle | undefined;
  let shutdownTimeoutMs = 0;
  let finished = false;
  /** The stoppable work running now (CommandContext.interruptible), if any. */
  let running: AbortController | undefined;
  const stop = (reason: StopReason): void => {
    const code = EXIT_STOPPED[reason];
    if (running !== undefined && !running.signal.aborted) {
      // The work undoes what it must and unwinds, and execute() closes the database on the way out. Should that
      // take longer than SHUTDOWN_TIMEOUT_MS (a statement that does not end), the process ends anyway.
      running.abort(reason);
      const limit = shutdownTimeoutMs;
      setTimeout(() => {
        if (!finished) {
          const what = reason === 'EPIPE' ? 'stdout closed by its reader' : `interrupted (${reason})`;
          process.stderr.write(
            errorLine(
              `${what}: not stopped within SHUTDOWN_TIMEOUT_MS (${limit} ms), exiting without waiting`,
            ),
          );
        }
        void (handle?.embedded?.stop() ?? Promise.resolve()).finally(() => process.exit(code));
      }, limit).unref();
      return;
    }
    // Nothing that can stop cleanly is running: the command finishes as it would, and what it prints is lost.
    if (reason === 'EPIPE') return;
    // An interrupted command still stops the PostgreSQL it started; a half-done seed can simply be run again.
    process.stderr.write(`${process.stderr.isTTY ? '\n' : ''}interrupted (${reason})\n`);
    void (handle?.embedded?.stop() ?? Promise.resolve()).finally(() => process.exit(code));
  };
  const interrupt = (signal: NodeJS.Signals): void => stop(signal === 'SIGTERM' ? 'SIGTERM' : 'SIGINT');
  // Without a listener, a closed stdout's EPIPE would be an uncaught exception (Node ignores SIGPIPE). Left in place
  // to the end: the error is emitted after the failed write, possibly after main returns. Other errors (ENOSPC) are
  // for the writer to report (an export's pipeline listens too); with no other listener they stay uncaught, as before.
  const stdoutError = (error: NodeJS.ErrnoException): void => {
    if (error.code === 'EPIPE') stop('EPIPE');
    else if (error.code !== 'ERR_STREAM_DESTROYED' && process.stdout.listenerCount('error') === 1)
      throw error;
  };
  process.stdout.on('error', stdoutError);
  const interruptible: CommandContext['interruptible'] = async (work) => {
    const controller = new AbortController();
    running = controller;
    try {
      return await work(controller.signal);
    } finally {
      running = undefined;
    }
  };
  process.once('SIGINT', interrupt);
  process.once('SIGTERM', interrupt);
  try {
    const resolved = resolve(argv);
    if ('help' in resolved) {
      print({ json: { help: resolved.help }, text: resolved.help });
      return 0;
    }
    const { run } = await resolved.command.parse(resolved.rest);
    if (run === undefined) {
      const help = resolved.command.help();
      print({ json: { help }, text: help });
      return 0;
    }
    const config = loadConfig();
    shutdownTimeoutMs = config.shutdownTimeoutMs;
    const logger = createLogger(
      { logLevel: verbose ? 'debug' : 'warn' },
      pino.destination({ dest: 2, sync: true }),
    );
    const output = await execute(
      config,
      logger,
      resolved.command,
      run,
      (opened) => {
        handle = opened;
      },
      interruptible,
    );
    print(output);
    return output.exitCode ?? 0;
  } catch (error) {
    const { message, code } = classify(error, verbose);
    if (message !== '') process.stderr.write(errorLine(message));
    return code;
  } finally {
    finished = true;
    process.off('SIGINT', interrupt);
    process.off('SIGTERM', interrupt);
  }
}

if (require.main === module) {
  void main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
