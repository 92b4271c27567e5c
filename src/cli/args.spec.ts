import { BadRequestException, HttpException, HttpStatus } from '@nestjs/common';
import type { CommandBus } from '@nestjs/cqrs';
import { InputError } from '../identity/accounts';
import {
  ArgumentError,
  type CommandContext,
  defineCommand,
  dispatch,
  formatHelp,
  parseDateTime,
  parseInteger,
  parseOptions,
} from './args';

const SPECS = {
  username: { type: 'string', valueName: 'USERNAME', required: true, description: 'login name' },
  type: { type: 'string', choices: ['internal', 'external'], description: 'user type' },
  permission: { type: 'string', multiple: true, description: 'a permission' },
  superuser: { type: 'boolean', description: 'make a superuser' },
} as const;

describe('parseOptions', () => {
  it('reads values, both spellings, repeats and flags, with defaults for the rest', () => {
    expect(
      parseOptions('user create', SPECS, [
        '--username',
        'alice',
        '--permission=a.b',
        '--permission',
        'c.d',
        '--superuser',
        '--json',
      ]),
    ).toEqual({
      username: 'alice',
      type: undefined,
      permission: ['a.b', 'c.d'],
      superuser: true,
      json: true,
      verbose: false,
      help: false,
    });
  });

  it('keeps a value that contains "=" or starts with a single dash', () => {
    expect(parseOptions('x', SPECS, ['--username=a=b']).username).toBe('a=b');
    expect(parseOptions('x', SPECS, ['--username', '-5']).username).toBe('-5');
  });

  it('lets --help through without the required options', () => {
    expect(parseOptions('x', SPECS, ['--help']).help).toBe(true);
    expect(parseOptions('x', SPECS, ['-h']).help).toBe(true);
  });

  it.each([
    [['--username', 'a', '--bogus'], 'unknown option --bogus for "user create"'],
    [['--username'], 'option --username needs a value'],
    [['--username', '--superuser'], 'option --username needs a value'],
    [['--username', 'a', '--username', 'b'], 'option --username is given more than once'],
    [['--username', 'a', '--superuser=yes'], 'option --superuser takes no value'],
    [['--username', 'a', '--type', 'robot'], 'option --type must be one of internal, external, got "robot"'],
    [['alice'], 'unexpected argument "alice" for "user create" (options start with --)'],
    [['--username', 'a', '--'], 'unexpected argument "--" for "user create" (options start with --)'],
    [[], 'missing required option --username for "user create"'],
  ])('rejects %j', (argv, message) => {
    expect(() => parseOptions('user create', SPECS, argv)).toThrow(new ArgumentError(message));
  });
});

describe('formatHelp', () => {
  it('shows usage, options and notes', () => {
    expect(formatHelp('user create', 'Create a user.', SPECS, 'Notes.')).toBe(
      [
        'Usage: grantry user create --username USERNAME [--type VALUE] [--permission VALUE] ... [--superuser] [--json] [--verbose]',
        '',
        'Create a user.',
        '',
        'Options:',
        '  --username USERNAME  login name (required)',
        '  --type VALUE         user type (one of: internal, external)',
        '  --permission VALUE   a permission (repeatable)',
        '  --superuser          make a superuser',
        '  --json               print exactly one JSON object on stdout (errors as JSON on stderr)',
        '  --verbose            log the database start-up and migrations to stderr',
        '  --help               show this help',
        '',
        'Notes.',
        '',
      ].join('\n'),
    );
  });
});

describe('parseDateTime', () => {
  it.each([
    ['2030-01-31T12:00:00Z', '2030-01-31T12:00:00.000Z'],
    ['2030-01-31T12:00:00.123456Z', '2030-01-31T12:00:00.123Z'],
    ['2030-01-31T12:00Z', '2030-01-31T12:00:00.000Z'],
    ['2030-01-31T12:00:00+02:00', '2030-01-31T10:00:00.000Z'],
    ['2030-01-31T12:00:00-0530', '2030-01-31T17:30:00.000Z'],
    ['2030-01-31t12:00:00z', '2030-01-31T12:00:00.000Z'],
    ['2030-01-31T12:00:00', '2030-01-31T12:00:00.000Z'],
    ['2030-01-31', '2030-01-31T00:00:00.000Z'],
    ['2024-02-29T23:59:59Z', '2024-02-29T23:59:59.000Z'],
    ['2020-01-01T00:00:00Z', '2020-01-01T00:00:00.000Z'],
  ])('reads %s', (value, iso) => {
    expect(parseDateTime('expires', value).toISOString()).toBe(iso);
  });

  it.each([
    'tomorrow',
    '',
    '2024-13-01',
    '2024-00-10',
    '2023-02-29',
    '2024-02-30T00:00:00Z',
    '2024-01-01T24:00:00Z',
    '2024-01-01T12:60:00Z',
    '2024-01-01T12:00:60Z',
    '2024-01-01T12:00:00+24:00',
    '2024-01-01 12:00:00',
    '2024-1-1',
    '1700000000',
    '0000-01-01',
    '2024-01-01T12:00:00Z extra',
  ])('rejects %j, naming the option', (value) => {
    expect(() => parseDateTime('expires', value)).toThrow(
      new ArgumentError(
        `option --expires must be an ISO 8601 date-time such as 2030-01-31T12:00:00Z, got "${value}"`,
      ),
    );
  });
});

describe('parseInteger', () => {
  it('reads whole numbers in range', () => {
    expect(parseInteger('users', '0', 0, 10)).toBe(0);
    expect(parseInteger('users', '10', 0, 10)).toBe(10);
  });

  it.each(['11', '-1', '1.5', '1e3', '', ' 1', 'ten', '99999999999999999999'])('rejects %j', (value) => {
    expect(() => parseInteger('users', value, 0, 10)).toThrow(
      new ArgumentError(`option --users must be a whole number from 0 to 10, got "${value}"`),
    );
  });
});

describe('parseOptions: several required options', () => {
  it('names every missing one', () => {
    const specs = {
      a: { type: 'string', required: true, description: 'a' },
      b: { type: 'string', required: true, description: 'b' },
      c: { type: 'string', description: 'c' },
    } as const;
    expect(() => parseOptions('cmd', specs, [])).toThrow(
      new ArgumentError('missing required options --a, --b for "cmd"'),
    );
    expect(() => parseOptions('cmd', specs, ['--b', 'x'])).toThrow(
      new ArgumentError('missing required option --a for "cmd"'),
    );
    expect(parseOptions('cmd', specs, ['--b', 'x', '--a', 'y'])).toEqual({
      a: 'y',
      b: 'x',
      c: undefined,
      json: false,
      verbose: false,
      help: false,
    });
  });
});

describe('defineCommand', () => {
  const prepared: unknown[] = [];
  const command = defineCommand({
    name: 'user show',
    summary: 'Show a user.',
    options: { username: { type: 'string', required: true, description: 'login name' } },
    notes: 'Notes.',
    prepare(options) {
      prepared.push(options);
      return () => Promise.resolve({ json: { username: options.username }, text: options.username });
    },
  });

  it('carries its name and summary, migrates nothing itself, and formats its help', () => {
    expect(command.name).toBe('user show');
    expect(command.summary).toBe('Show a user.');
    expect(command.migratesItself).toBe(false);
    expect(command.help()).toBe(
      formatHelp(
        'user show',
        'Show a user.',
        { username: { type: 'string', required: true, description: 'login name' } },
        'Notes.',
      ),
    );
    expect(
      defineCommand({
        name: 'migrate',
        summary: 's',
        options: {},
        migratesItself: true,
        prepare: () => () => Promise.resolve({ json: {}, text: '' }),
      }).migratesItself,
    ).toBe(true);
  });

  it('prepares the work with the parsed options, or nothing under --help', async () => {
    prepared.length = 0;
    const parsed = await command.parse(['--username', 'ada', '--json']);
    expect(parsed.options).toEqual({ json: true, help: false, verbose: false });
    expect(prepared).toEqual([{ username: 'ada', json: true, help: false, verbose: false }]);
    await expect(parsed.run?.({} as CommandContext)).resolves.toEqual({
      json: { username: 'ada' },
      text: 'ada',
    });

    const help = await command.parse(['--help', '--verbose']);
    expect(help.options).toEqual({ json: false, help: true, verbose: true });
    expect(help.run).toBeUndefined();
    expect(prepared).toHaveLength(1);
  });
});

describe('dispatch', () => {
  const contextWith = (execute: () => Promise<unknown>): Pick<CommandContext, 'bus'> => ({
    bus: () => Promise.resolve({ execute } as unknown as CommandBus),
  });
  const failing = (error: Error) => contextWith(() => Promise.reject(error));

  it("returns the handler's result", async () => {
    await expect(
      dispatch(
        contextWith(() => Promise.resolve(42)),
        {} as never,
      ),
    ).resolves.toBe(42);
  });

  it.each<[string, HttpException, string]>([
    ['a detail', new HttpException({ detail: 'Not found.' }, HttpStatus.NOT_FOUND), 'Not found.'],
    [
      'field errors',
      new BadRequestException({
        username: ['This field is required.', 'Too short.'],
        non_field_errors: ['Bad.'],
      }),
      'username: This field is required. Too short.; Bad.',
    ],
    ['a scalar field', new HttpException({ name: 'taken' }, HttpStatus.BAD_REQUEST), 'name: taken'],
    ['a list body', new HttpException(['one', 'two'], HttpStatus.FORBIDDEN), 'one; two'],
    ['a string body', new HttpException('Forbidden here', HttpStatus.FORBIDDEN), 'Forbidden here'],
    ['an empty string body', new HttpException('', 499), ''],
  ])('turns a 4xx with %s into an InputError', async (_, error, message) => {
    const outcome = dispatch(failing(error), {} as never);
    await expect(outcome).rejects.toThrow(InputError);
    await expect(dispatch(failing(error), {} as never)).rejects.toThrow(new InputError(message));
  });

  it('passes 5xx and other errors through unchanged', async () => {
    const server = new HttpException({ detail: 'boom' }, HttpStatus.INTERNAL_SERVER_ERROR);
    await expect(dispatch(failing(server), {} as never)).rejects.toBe(server);
    const plain = new Error('plain');
    await expect(dispatch(failing(plain), {} as never)).rejects.toBe(plain);
  });
});

describe('parseOptions, formatHelp and parseDateTime at their edges', () => {
  it('gives every option its empty value when the command line is only the required one', () => {
    expect(parseOptions('x', SPECS, ['--username', 'a'])).toStrictEqual({
      username: 'a',
      type: undefined,
      permission: [],
      superuser: false,
      json: false,
      verbose: false,
      help: false,
    });
  });

  it('writes the help of a command without options or notes', () => {
    expect(formatHelp('migrate', 'Apply the migrations.', {})).toBe(
      [
        'Usage: grantry migrate [--json] [--verbose]',
        '',
        'Apply the migrations.',
        '',
        'Options:',
        '  --json     print exactly one JSON object on stdout (errors as JSON on stderr)',
        '  --verbose  log the database start-up and migrations to stderr',
        '  --help     show this help',
        '',
      ].join('\n'),
    );
  });

  it.each([
    ['2030-01-31T12:00:00.5Z', '2030-01-31T12:00:00.500Z'],
    ['2030-01-31T12:00:00.07Z', '2030-01-31T12:00:00.070Z'],
    ['0001-01-01', '0001-01-01T00:00:00.000Z'],
    ['0099-12-31T23:59:59Z', '0099-12-31T23:59:59.000Z'],
    ['2030-01-31T12:00+23:59', '2030-01-30T12:01:00.000Z'],
    ['2030-01-31T12:00-00:59', '2030-01-31T12:59:00.000Z'],
  ])('reads %s (fractions padded, years below 100 kept, offsets up to 23:59)', (value, iso) => {
    expect(parseDateTime('expires', value).toISOString()).toBe(iso);
  });

  it.each(['2024-01-01T12:00:00+00:60', '2024-01-01T12:00:00-24:00'])('rejects the offset of %s', (value) => {
    expect(() => parseDateTime('expires', value)).toThrow(
      new ArgumentError(
        `option --expires must be an ISO 8601 date-time such as 2030-01-31T12:00:00Z, got "${value}"`,
      ),
    );
  });
});

describe('parseInteger, strictly', () => {
  it.each(['1e1', '5 ', '0x5'])('rejects %j, which Number() would read as a number in range', (value) => {
    expect(() => parseInteger('users', value, 0, 10)).toThrow(
      new ArgumentError(`option --users must be a whole number from 0 to 10, got "${value}"`),
    );
  });

  it('rejects a number below a minimum above 0, and takes the minimum itself', () => {
    expect(() => parseInteger('users', '0', 1, 10)).toThrow(
      new ArgumentError('option --users must be a whole number from 1 to 10, got "0"'),
    );
    expect(parseInteger('users', '1', 1, 10)).toBe(1);
  });
});
