import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { CLI_CALLER, callerPrincipal } from '../../common/auth/caller';
import { ValidationApiError } from '../../common/errors/api-error';
import { GRANT_KIND_NAMES, type GrantKindName } from '../../oauth2/common/grants';
import { BulkRevokeGrantsCommand, type BulkRevokeResult } from '../../oauth2/grants/bulk-revoke';
import { parseBulkRevokeBody } from '../../oauth2/grants/bulk-revoke.dto';
import { EXPORT_FORMATS, type GrantExport } from '../../oauth2/grants/grant-export';
import {
  ACCESS_TOKENS,
  AUTHORIZATION_CODES,
  type GrantKind,
  REFRESH_TOKENS,
} from '../../oauth2/grants/grant-kind';
import { ExportGrantsQuery } from '../../oauth2/grants/grant.queries';
import { type FilterParams, parseFilters, parseSearch, type RawQuery } from '../../oauth2/grants/list-params';
import {
  ArgumentError,
  defineCommand,
  type OptionSpecs,
  parseInteger,
  Stopped,
  type StopReason,
} from '../args';

/*
 * The incident operations for an operator with a shell on the server and no API key (the API down, its keys
 * suspect): `grants revoke` is POST .../bulk_revoke/ and `grants export` is GET .../export/, run through the same
 * handlers, with the options as the body or query (so the same validation and the same SQL), as a caller who may act
 * on every grant. The audit event of a revocation names `grantry-cli` as its actor.
 */

const KINDS: Record<GrantKindName, GrantKind> = {
  access: ACCESS_TOKENS,
  refresh: REFRESH_TOKENS,
  code: AUTHORIZATION_CODES,
};
const NOUN: Record<GrantKindName, [string, string]> = {
  access: ['access token', 'access tokens'],
  refresh: ['refresh token', 'refresh tokens'],
  code: ['authorization code', 'authorization codes'],
};
const counted = (n: number, kind: GrantKindName): string => `${n} ${NOUN[kind][n === 1 ? 0 : 1]}`;

const MAX_INT4 = 2_147_483_647;
const BOOLEAN = ['true', 'false'] as const;

const TYPE_OPTION = {
  type: {
    type: 'string',
    valueName: 'TYPE',
    required: true,
    choices: GRANT_KIND_NAMES,
    description: 'access (tokens), refresh (tokens) or code (authorization codes)',
  },
} as const satisfies OptionSpecs;

/** The list's filters (list-params.ts), as options: `--expires-lt` is `expires__lt`, `--client-id` is `client_id`. */
const FILTER_OPTIONS = {
  user: { type: 'string', valueName: 'PK', description: "the owner's user pk" },
  provider: { type: 'string', valueName: 'PK', description: 'the pk of the provider that issued them' },
  'is-expired': {
    type: 'string',
    valueName: 'BOOL',
    choices: BOOLEAN,
    description: 'expired now (true) or not (false)',
  },
  'expires-lt': {
    type: 'string',
    valueName: 'DATETIME',
    description: 'expiring before this instant (ISO 8601: a date alone is midnight UTC; UTC when no offset)',
  },
  'expires-gte': { type: 'string', valueName: 'DATETIME', description: 'expiring at or after this instant' },
  'created-lt': { type: 'string', valueName: 'DATETIME', description: 'issued before this instant' },
  'created-gte': { type: 'string', valueName: 'DATETIME', description: 'issued at or after this instant' },
  'valid-at': {
    type: 'string',
    valueName: 'DATETIME',
    description: 'usable at this instant: issued by then, not expired then, not revoked by then',
  },
  scope: {
    type: 'string',
    valueName: 'SCOPES',
    description: 'whose scope holds every one of these (space- or comma-separated)',
  },
  application: {
    type: 'string',
    valueName: 'SLUG',
    description: "of the provider this application uses (the application's slug)",
  },
  'client-id': { type: 'string', valueName: 'CLIENT_ID', description: 'of the provider with this client_id' },
  username: { type: 'string', valueName: 'USERNAME', description: "the owner's exact username" },
} as const satisfies OptionSpecs;
type FilterOption = keyof typeof FILTER_OPTIONS;

/** Each option's wire name (the body member, the query parameter); the errors are translated back with it. */
const WIRE_NAMES: Record<FilterOption | 'revoked' | 'search', string> = {
  user: 'user',
  provider: 'provider',
  revoked: 'revoked',
  'is-expired': 'is_expired',
  'expires-lt': 'expires__lt',
  'expires-gte': 'expires__gte',
  'created-lt': 'created__lt',
  'created-gte': 'created__gte',
  'valid-at': 'valid_at',
  scope: 'scope',
  application: 'application',
  'client-id': 'client_id',
  username: 'username',
  search: 'search',
};
const OPTION_NAMES = new Map(Object.entries(WIRE_NAMES).map(([option, wire]) => [wire, option]));

type GivenOptions = Partial<Record<keyof typeof WIRE_NAMES, string>>;

/** The filter options given, after the checks that need no database (`--user`/`--provider` are pks). */
function givenFilters(options: GivenOptions): GivenOptions {
  const given: GivenOptions = {};
  for (const name of Object.keys(WIRE_NAMES) as (keyof typeof WIRE_NAMES)[]) {
    const value = options[name];
    if (value === undefined) continue;
    if (name === 'user' || name === 'provider') parseInteger(name, value, 1, MAX_INT4);
    given[name] = value;
  }
  return given;
}

/**
 * The API's 400 (a ValidationApiError keyed by body member or query parameter) as the CLI's usage error, naming the
 * options: `option --valid-at "soon": Enter a valid date/time.`. Anything else is passed on as it is.
 */
function asOptionError(error: unknown, given: GivenOptions): unknown {
  if (!(error instanceof ValidationApiError)) return error;
  const parts = Object.entries(error.errors).map(([field, messages]) => {
    const text = messages.join(' ');
    const option = OPTION_NAMES.get(field) as keyof typeof WIRE_NAMES | undefined;
    if (option === undefined) return field === 'non_field_errors' ? text : `${field}: ${text}`;
    const value = given[option];
    return `option --${option}${value === undefined ? '' : ` "${value}"`}: ${text}`;
  });
  return new ArgumentError(parts.join('; '));
}

export const EMPTY_PREDICATE_CLI = `at least one filter is required for "grants revoke": ${Object.keys(
  FILTER_OPTIONS,
)
  .map((name) => `--${name}`)
  .join(', ')}; revoking every grant is refused (to mean it, say so with a filter, e.g. --is-expired false)`;

/** `Access token pks: 4, 7` or, past the first 100, `Access token pks (the first 100 of 250): 4, 7, ...`. */
function pkLine(kind: GrantKindName, ids: number[], count: number): string {
  const noun = NOUN[kind][0];
  const name = `${noun.charAt(0).toUpperCase()}${noun.slice(1)} pks`;
  const part = count > ids.length ? ` (the first ${ids.length} of ${count})` : '';
  return `${name}${part}: ${ids.join(', ')}`;
}

function describeRevoke(type: GrantKindName, result: BulkRevokeResult): string {
  const cascade = result.access_tokens;
  const what =
    counted(result.count, type) +
    (cascade ? ` and ${counted(cascade.count, 'access')} of the same authorizations` : '');
  const lines = [result.dry_run ? `Would revoke ${what} (dry run: nothing revoked).` : `Revoked ${what}.`];
  if (result.count > 0) lines.push(pkLine(type, result.first_ids, result.count));
  if (cascade && cascade.count > 0) lines.push(pkLine('access', cascade.first_ids, cascade.count));
  return lines.join('\n');
}

export const grantsRevoke = defineCommand({
  name: 'grants revoke',
  summary:
    'Revoke every access token, refresh token or authorization code not yet revoked that matches the filters ' +
    '(what POST /api/v3/oauth2/<type>/bulk_revoke/ does), and print how many; --dry-run counts them.',
  options: {
    ...TYPE_OPTION,
    ...FILTER_OPTIONS,
    'dry-run': { type: 'boolean', description: 'only count them and list the first ids; revoke nothing' },
    'include-access-tokens': {
      type: 'boolean',
      description: 'with --type refresh: also revoke the access tokens of the same authorizations',
    },
  },
  notes:
    'At least one filter is required; filters combine (a grant must match all). Revoked grants stay in the ' +
    'inventory; running the same command again revokes 0 more. Runs in batches of 5,000 rows, each its own ' +
    'transaction, so the server keeps answering meanwhile, and records one event (model_updated, actor ' +
    'grantry-cli) with the filters and the count. Date-times are ISO 8601 with a time (2030-01-31T12:00:00Z).',
  async prepare(options) {
    const type = options.type;
    const given = givenFilters(options);
    // The body of bulk_revoke/: the handler validates it exactly as the API's (messages translated back).
    const body: Record<string, unknown> = {};
    for (const [name, value] of Object.entries(given) as [FilterOption, string][]) {
      body[WIRE_NAMES[name]] =
        name === 'user' || name === 'provider'
          ? Number(value)
          : name === 'is-expired'
            ? value === 'true'
            : value;
    }
    if (Object.keys(body).length === 0) throw new ArgumentError(EMPTY_PREDICATE_CLI);
    if (options['include-access-tokens'] && type !== 'refresh') {
      throw new ArgumentError('option --include-access-tokens applies to --type refresh only');
    }
    body.dry_run = options['dry-run'];
    if (options['include-access-tokens']) body.include_access_tokens = true;
    // The handler's own body check, run here too, before the database is opened: a bad value is reported alike
    // whether or not the database can be reached (only `--user`/`--provider` existence needs it).
    try {
      await parseBulkRevokeBody(KINDS[type], body);
    } catch (error) {
      throw asOptionError(error, given);
    }
    return async ({ grants }) => {
      let result: BulkRevokeResult;
      try {
        const { commandBus } = await grants();
        result = await commandBus.execute(new BulkRevokeGrantsCommand(KINDS[type], CLI_CALLER, body));
      } catch (error) {
        throw asOptionError(error, given);
      }
      return { json: { type, ...result }, text: describeRevoke(type, result) };
    };
  },
});

/** Where an export goes: the file is written beside its final name and renamed when complete. */
function checkOutput(file: string): string {
  const target = path.resolve(file);
  const directory = path.dirname(target);
  if (!fs.statSync(directory, { throwIfNoEntry: false })?.isDirectory()) {
    throw new ArgumentError(`option --output: directory "${directory}" does not exist`);
  }
  if (fs.statSync(target, { throwIfNoEntry: false })?.isDirectory()) {
    throw new ArgumentError(`option --output: "${file}" is a directory`);
  }
  return target;
}

const interrupted = (reason: StopReason): string => `interrupted (${reason})`;

/**
 * An export cut short by a failure (the database lost midway, an unexpected error): what was left undone, with the
 * error as its cause, so that main still classifies it (exit 2 when the database is unavailable). The message is
 * the driver's or Node's, never the connection string.
 */
function exportFailed(error: unknown, rows: number, what: string): Error {
  const message = error instanceof Error ? error.message : String(error);
  return new Error(`the export stopped after ${rows} rows; ${what}: ${message}`, { cause: error });
}

/**
 * Streams the export to stdout. The reader closing the pipe (`grants export | head -1`: EPIPE) is normal Unix use,
 * not an error: the export stops, quietly, and the command exits 0. Exit 0 rather than SIGPIPE's 141 (what `git log
 * | head` ends with, seen by the shell only under `set -o pipefail`): the reader asked for no more rows and got
 * what it asked for, and scripts running with pipefail, a common strict mode, would otherwise fail on every `| head`.
 */
async function writeStdout(
  result: GrantExport,
  stdout: NodeJS.WritableStream,
  signal: AbortSignal,
): Promise<void> {
  const stop = (): void => void result.stream.destroy(new Error('export stopped'));
  signal.addEventListener('abort', stop, { once: true });
  // pipeline reports the first error; one after it (the batch in flight failing as the database is closed on the
  // way out) must not become an uncaught exception.
  result.stream.on('error', () => undefined);
  try {
    if (signal.aborted) stop();
    await pipeline(result.stream, stdout, { end: false });
  } catch (error) {
    const reason = signal.aborted
      ? (signal.reason as StopReason)
      : (error as NodeJS.ErrnoException).code === 'EPIPE'
        ? 'EPIPE'
        : undefined;
    if (reason === 'EPIPE') throw new Stopped(reason, '');
    if (reason !== undefined) {
      throw new Stopped(
        reason,
        `${interrupted(reason)}: the export to stdout stopped after ${result.progress.rows} rows`,
      );
    }
    throw exportFailed(error, result.progress.rows, 'stdout holds only those');
  } finally {
    signal.removeEventListener('abort', stop);
  }
}

/**
 * Writes the export to `target` through a temporary file in the same directory, renamed over it once the last row
 * is written: a failed or interrupted export never leaves a truncated file under the name asked for, nor its
 * temporary file, and a file already at `target` stays as it was. Mode 0600: the rows name users and their
 * applications.
 */
async function writeFile(result: GrantExport, target: string, signal: AbortSignal): Promise<void> {
  const partial = path.join(
    path.dirname(target),
    `.${path.basename(target)}.${randomBytes(6).toString('hex')}.partial`,
  );
  const output = fs.createWriteStream(partial, { flags: 'wx', mode: 0o600 });
  // The file's own errors (ENOSPC, EACCES) are reported as such; pipeline hands the rows' errors (a lost database)
  // to the file stream too, so those are told apart by where they came from.
  let readError: Error | undefined;
  let writeError: Error | undefined;
  result.stream.on('error', (error) => (readError ??= error));
  output.on('error', (error) => {
    if (error !== readError) writeError ??= error;
  });
  // On a stop the temporary file goes at once, not once the batch being read has arrived: should closing take
  // longer than SHUTDOWN_TIMEOUT_MS, main ends the process without waiting for the rest of this function.
  const stop = (): void => {
    output.destroy();
    fs.rmSync(partial, { force: true });
    result.stream.destroy(new Error('export stopped'));
  };
  signal.addEventListener('abort', stop, { once: true });
  try {
    if (signal.aborted) stop();
    await pipeline(result.stream, output);
    await fs.promises.rename(partial, target);
  } catch (error) {
    result.stream.destroy();
    // Again: a stop during the file's opening may have removed it before it existed.
    await fs.promises.rm(partial, { force: true });
    if (signal.aborted) {
      const reason = signal.reason as StopReason;
      throw new Stopped(reason, `${interrupted(reason)}: the export stopped; "${target}" was not written`);
    }
    if (writeError !== undefined) throw new ArgumentError(`cannot write "${target}": ${writeError.message}`);
    throw exportFailed(error, result.progress.rows, `"${target}" was not written`);
  } finally {
    signal.removeEventListener('abort', stop);
  }
}

export const grantsExport = defineCommand({
  name: 'grants export',
  summary:
    'Write every access token, refresh token or authorization code matching the filters as NDJSON or CSV (the rows ' +
    'and columns of GET /api/v3/oauth2/<type>/export/; no token, code or hash), to stdout or a file.',
  options: {
    ...TYPE_OPTION,
    ...FILTER_OPTIONS,
    revoked: {
      type: 'string',
      valueName: 'BOOL',
      choices: BOOLEAN,
      description: 'revoked (true) or not (false)',
    },
    search: {
      type: 'string',
      valueName: 'TERMS',
      description: "as the list's search: usernames, names, emails, providers, client ids, applications",
    },
    format: {
      type: 'string',
      valueName: 'FORMAT',
      choices: EXPORT_FORMATS,
      description: 'ndjson (one JSON object a line, the default) or csv (with a header line)',
    },
    output: {
      type: 'string',
      valueName: 'FILE',
      description: 'write to this file (replaced when the export is complete; mode 0600) instead of stdout',
    },
  },
  notes:
    'Without filters, every grant of the type. Rows are read in batches of 2,000 in pk order, so memory does not ' +
    'grow with the export. Rows are those whose pk existed when the export started, each as it was when its batch ' +
    'was read. With stdout as the data, the summary (and --json) goes to stderr. A reader closing stdout early ' +
    '(grants export | head) ends the export quietly, exit 0. SIGINT or SIGTERM stops it (exit 130 or 143); with ' +
    '--output, the temporary file is removed and FILE left as it was.',
  prepare(options) {
    const type = options.type;
    const given = givenFilters(options);
    const query: RawQuery = {};
    for (const [name, value] of Object.entries(given)) query[WIRE_NAMES[name as keyof GivenOptions]] = value;
    let filters: FilterParams;
    try {
      filters = parseFilters(query);
    } catch (error) {
      throw asOptionError(error, given);
    }
    const search = parseSearch(query.search);
    const format = options.format ?? 'ndjson';
    const target = options.output === undefined ? undefined : checkOutput(options.output);
    return async ({ grants, stdout, interruptible }) => {
      let result: GrantExport;
      try {
        const { queryBus } = await grants();
        result = await queryBus.execute(
          new ExportGrantsQuery(KINDS[type], callerPrincipal(CLI_CALLER), filters, search, format),
        );
      } catch (error) {
        throw asOptionError(error, given);
      }
      await interruptible((signal) =>
        target === undefined ? writeStdout(result, stdout, signal) : writeFile(result, target, signal),
      );
      const rows = result.progress.rows;
      return {
        json: { type, format, rows, output: target ?? null },
        text: `Exported ${counted(rows, type)} as ${format}${target === undefined ? '' : ` to ${target}`}.`,
        ...(target === undefined ? { to: 'stderr' as const } : {}),
      };
    };
  },
});
