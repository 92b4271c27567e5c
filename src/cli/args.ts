import { HttpException } from '@nestjs/common';
import type { Command as BusCommand, CommandBus, QueryBus } from '@nestjs/cqrs';
import { InputError } from '../identity/accounts';
import type { AppConfig } from '../config/config';
import type { Sealer } from '../keys/sealing';
import type { DataSource } from 'typeorm';

/**
 * The CLI's option parser: long options only (`--name value` or `--name=value`), strict about everything, with
 * messages that name the option. node's util.parseArgs would do the parsing, but not the required/choices checks,
 * and its messages talk about positionals and `--` in ways that confuse more than they help.
 */

/** A command line that cannot be run as written; its message is meant for the user. */
export class ArgumentError extends Error {}

/** Why a command is told to stop before its end: a signal, or the reader of its stdout going away (EPIPE). */
export type StopReason = 'SIGINT' | 'SIGTERM' | 'EPIPE';

/**
 * A command that stopped early because it was told to (CommandContext.interruptible): main exits with the reason's
 * status (130 for SIGINT, 143 for SIGTERM, 0 for EPIPE) and prints the message, if any, as the one error line.
 */
export class Stopped extends Error {
  constructor(
    readonly reason: StopReason,
    message: string,
  ) {
    super(message);
  }
}

export interface OptionSpec {
  type: 'string' | 'boolean';
  description: string;
  /** Placeholder shown in help, e.g. USERNAME. */
  valueName?: string;
  required?: boolean;
  /** May be given several times; the values are collected in order. */
  multiple?: boolean;
  choices?: readonly string[];
}

export type OptionSpecs = Readonly<Record<string, OptionSpec>>;

type ValueOf<S extends OptionSpec> = S['type'] extends 'boolean'
  ? boolean
  : S extends { multiple: true }
    ? string[]
    : S extends { choices: readonly (infer C)[] }
      ? S extends { required: true }
        ? C
        : C | undefined
      : S extends { required: true }
        ? string
        : string | undefined;

/** Options every command takes. */
export interface GlobalOptions {
  json: boolean;
  help: boolean;
  verbose: boolean;
}

export type ParsedOptions<O extends OptionSpecs> = {
  -readonly [K in keyof O]: ValueOf<O[K]>;
} & GlobalOptions;

export const GLOBAL_OPTIONS = {
  json: {
    type: 'boolean',
    description: 'print exactly one JSON object on stdout (errors as JSON on stderr)',
  },
  verbose: { type: 'boolean', description: 'log the database start-up and migrations to stderr' },
  help: { type: 'boolean', description: 'show this help' },
} as const satisfies OptionSpecs;

/** Parses `argv` (the words after the command name) against `specs` plus the global options. */
export function parseOptions<O extends OptionSpecs>(
  command: string,
  specs: O,
  argv: readonly string[],
): ParsedOptions<O> {
  const all: OptionSpecs = { ...specs, ...GLOBAL_OPTIONS };
  const values = new Map<string, string | boolean | string[]>();
  for (let i = 0; i < argv.length; i += 1) {
    const word = argv[i] ?? '';
    if (word === '-h') {
      values.set('help', true);
      continue;
    }
    if (!word.startsWith('--') || word === '--') {
      throw new ArgumentError(`unexpected argument "${word}" for "${command}" (options start with --)`);
    }
    const equals = word.indexOf('=');
    const name = word.slice(2, equals === -1 ? undefined : equals);
    const spec = all[name];
    if (spec === undefined) throw new ArgumentError(`unknown option --${name} for "${command}"`);
    if (spec.type === 'boolean') {
      if (equals !== -1) throw new ArgumentError(`option --${name} takes no value`);
      values.set(name, true);
      continue;
    }
    let value: string;
    if (equals !== -1) {
      value = word.slice(equals + 1);
    } else {
      const next = argv[i + 1];
      // A value may not look like an option: `--name --superuser` is far more likely a forgotten value.
      if (next === undefined || next.startsWith('--'))
        throw new ArgumentError(`option --${name} needs a value`);
      value = next;
      i += 1;
    }
    if (spec.choices !== undefined && !spec.choices.includes(value)) {
      throw new ArgumentError(`option --${name} must be one of ${spec.choices.join(', ')}, got "${value}"`);
    }
    const previous = values.get(name);
    if (spec.multiple) {
      values.set(name, [...(Array.isArray(previous) ? previous : []), value]);
    } else {
      if (previous !== undefined) throw new ArgumentError(`option --${name} is given more than once`);
      values.set(name, value);
    }
  }
  const parsed: Record<string, string | boolean | string[] | undefined> = {};
  for (const [name, spec] of Object.entries(all)) {
    const value = values.get(name);
    if (spec.type === 'boolean') parsed[name] = value === true;
    else if (spec.multiple) parsed[name] = Array.isArray(value) ? value : [];
    else parsed[name] = value;
  }
  // --help wins over missing options, so `user create --help` works.
  if (parsed.help !== true) {
    const missing = Object.entries(specs)
      .filter(([name, spec]) => spec.required && values.get(name) === undefined)
      .map(([name]) => `--${name}`);
    if (missing.length > 0) {
      throw new ArgumentError(
        `missing required option${missing.length > 1 ? 's' : ''} ${missing.join(', ')} for "${command}"`,
      );
    }
  }
  return parsed as ParsedOptions<O>;
}

/** Help text for one command: usage line, summary, options, and any further notes. */
export function formatHelp(command: string, summary: string, specs: OptionSpecs, notes?: string): string {
  const all: OptionSpecs = { ...specs, ...GLOBAL_OPTIONS };
  const usage = Object.entries(specs)
    .map(([name, spec]) => {
      const word = spec.type === 'boolean' ? `--${name}` : `--${name} ${spec.valueName ?? 'VALUE'}`;
      const repeat = spec.multiple ? ' ...' : '';
      return spec.required ? `${word}${repeat}` : `[${word}]${repeat}`;
    })
    .join(' ');
  const rows = Object.entries(all).map(([name, spec]) => {
    const left = spec.type === 'boolean' ? `--${name}` : `--${name} ${spec.valueName ?? 'VALUE'}`;
    const extras = [
      spec.required ? 'required' : undefined,
      spec.multiple ? 'repeatable' : undefined,
      spec.choices ? `one of: ${spec.choices.join(', ')}` : undefined,
    ].filter((extra) => extra !== undefined);
    return [left, `${spec.description}${extras.length > 0 ? ` (${extras.join('; ')})` : ''}`] as const;
  });
  const width = Math.max(...rows.map(([left]) => left.length));
  const lines = [
    `Usage: grantry ${command}${usage === '' ? '' : ` ${usage}`} [--json] [--verbose]`,
    '',
    summary,
    '',
    'Options:',
    ...rows.map(([left, right]) => `  ${left.padEnd(width)}  ${right}`),
  ];
  if (notes !== undefined) lines.push('', notes);
  return `${lines.join('\n')}\n`;
}

const ISO_DATE_TIME =
  /^(\d{4})-(\d{2})-(\d{2})(?:[Tt](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?([Zz]|([+-])(\d{2}):?(\d{2}))?)?$/;

/**
 * An ISO 8601 date-time (`2030-01-31T12:00:00Z`, `2030-01-31T12:00+02:00`, or a bare date meaning midnight). A time
 * without an offset is UTC: the CLI's result should not depend on the machine's time zone. Out-of-range fields
 * (month 13, February 30, hour 24) are errors rather than being rolled over as JavaScript's Date would.
 */
export function parseDateTime(option: string, value: string): Date {
  const invalid = new ArgumentError(
    `option --${option} must be an ISO 8601 date-time such as 2030-01-31T12:00:00Z, got "${value}"`,
  );
  const match = ISO_DATE_TIME.exec(value);
  if (!match) throw invalid;
  const [, year, month, day, hour, minute, second, fraction, zone, sign, offsetHours, offsetMinutes] = match;
  const fields = [year, month, day, hour ?? '0', minute ?? '0', second ?? '0'].map(Number);
  const [y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0] = fields;
  const ms = Number((fraction ?? '0').padEnd(3, '0').slice(0, 3));
  const utc = new Date(Date.UTC(y, mo - 1, d, h, mi, s, ms));
  // Date.UTC maps years 0-99 to 1900-1999; setUTCFullYear puts them back.
  utc.setUTCFullYear(y);
  if (
    y < 1 ||
    utc.getUTCFullYear() !== y ||
    utc.getUTCMonth() !== mo - 1 ||
    utc.getUTCDate() !== d ||
    utc.getUTCHours() !== h ||
    utc.getUTCMinutes() !== mi ||
    utc.getUTCSeconds() !== s
  ) {
    throw invalid;
  }
  let offset = 0;
  if (zone !== undefined && sign !== undefined) {
    const oh = Number(offsetHours);
    const om = Number(offsetMinutes);
    if (oh > 23 || om > 59) throw invalid;
    offset = (sign === '-' ? -1 : 1) * (oh * 60 + om);
  }
  return new Date(utc.getTime() - offset * 60_000);
}

/** A whole number within [min, max], named after its option in errors. */
export function parseInteger(option: string, value: string, min: number, max: number): number {
  const parsed = /^\d+$/.test(value) ? Number(value) : Number.NaN;
  if (!Number.isSafeInteger(parsed) || parsed < min || parsed > max) {
    throw new ArgumentError(
      `option --${option} must be a whole number from ${min} to ${max}, got "${value}"`,
    );
  }
  return parsed;
}

export interface CommandContext {
  dataSource: DataSource;
  /** The settings the command runs with (the environment's, as the server would read them). */
  config: AppConfig;
  /**
   * SECRET_KEY's sealer, for commands that create or use keys: resolved (or generated into DATA_DIR) and checked
   * against the database on first call; ConfigError naming SECRET_KEY when it does not match.
   */
  sealer: () => Promise<Sealer>;
  /**
   * The management commands' bus (src/cli/bus.ts), the one the API dispatches to: started on first call (which also
   * resolves SECRET_KEY, as the handlers may seal secrets).
   */
  bus: () => Promise<CommandBus>;
  /**
   * The grant inventory's buses (src/cli/bus.ts openGrantsContext), for `grants revoke` and `grants export`: the
   * API's bulk_revoke and export handlers, started on first call, without SECRET_KEY.
   */
  grants: () => Promise<{ commandBus: CommandBus; queryBus: QueryBus }>;
  /**
   * Runs work that can be stopped cleanly: while it runs, SIGINT, SIGTERM (or, for work writing to stdout, the reader
   * closing it: EPIPE) abort `signal` with the StopReason instead of ending the process at once; the work then
   * undoes what it must and throws Stopped, and main closes the database before exiting. Outside of it, a signal
   * ends the process at once (after stopping an embedded PostgreSQL), and an EPIPE only loses what is printed.
   */
  interruptible: <T>(work: (signal: AbortSignal) => Promise<T>) => Promise<T>;
  /** For a command whose result is data (grants export without --output); its summary then goes to stderr. */
  stdout: NodeJS.WritableStream;
  /** For progress output; stdout belongs to the command's result. */
  stderr: NodeJS.WriteStream;
}

export interface CommandOutput {
  /** Printed with --json, as one line. */
  json: Record<string, unknown>;
  /** Printed otherwise. */
  text: string;
  /** The process's exit code (default 0), for a command whose finding is a failure, e.g. a check that failed. */
  exitCode?: number;
  /** Where it is printed: stdout, unless the command wrote its data there (then stderr, so the data stays clean). */
  to?: 'stderr';
}

export type Runner = (context: CommandContext) => Promise<CommandOutput>;

export interface CommandDefinition<O extends OptionSpecs> {
  /** The words that select it, e.g. "user create". */
  name: string;
  summary: string;
  options: O;
  notes?: string;
  /** Set for `migrate`; every other command runs once the migrations are applied. */
  migratesItself?: boolean;
  /**
   * Checks what can be checked without a database (so a typo fails before an embedded PostgreSQL is started, or a
   * connection to DATABASE_URL is tried), and returns the work to do once it is open.
   */
  prepare(options: ParsedOptions<O>): Runner | Promise<Runner>;
}

export interface PreparedCommand {
  options: GlobalOptions;
  /** Undefined when --help was asked for: nothing is checked or run then. */
  run: Runner | undefined;
}

export interface Command {
  name: string;
  summary: string;
  migratesItself: boolean;
  help(): string;
  /** The options parsed and checked (everything that needs no database), or the errors, as ArgumentError. */
  parse(argv: readonly string[]): Promise<PreparedCommand>;
}

export function defineCommand<const O extends OptionSpecs>(definition: CommandDefinition<O>): Command {
  return {
    name: definition.name,
    summary: definition.summary,
    migratesItself: definition.migratesItself ?? false,
    help: () => formatHelp(definition.name, definition.summary, definition.options, definition.notes),
    async parse(argv) {
      const options = parseOptions(definition.name, definition.options, argv);
      const globals = { json: options.json, help: options.help, verbose: options.verbose };
      return { options: globals, run: options.help ? undefined : await definition.prepare(options) };
    },
  };
}

/**
 * Runs a management command on the bus for the CLI: the API's 400/403/404 answers become an InputError whose message
 * is the body's messages (`field: message; ...`), so the CLI reports what the API would have.
 */
export async function dispatch<R>(context: Pick<CommandContext, 'bus'>, command: BusCommand<R>): Promise<R> {
  const bus = await context.bus();
  try {
    return await bus.execute(command);
  } catch (error) {
    if (error instanceof HttpException && error.getStatus() < 500) throw new InputError(httpErrorText(error));
    throw error;
  }
}

function httpErrorText(error: HttpException): string {
  const body: unknown = error.getResponse();
  if (Array.isArray(body)) return body.map(String).join('; ');
  if (body === null || typeof body !== 'object') return String(body) || error.message;
  return Object.entries(body as Record<string, unknown>)
    .map(([key, value]) => {
      const text = Array.isArray(value) ? value.map(String).join(' ') : String(value);
      return key === 'detail' || key === 'non_field_errors' ? text : `${key}: ${text}`;
    })
    .join('; ');
}
