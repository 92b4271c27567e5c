import { InputError } from './accounts';
import { passwordProblem } from './password';

/** More than any password could be: a wrong file piped in. */
const MAX_STDIN_BYTES = 65_536;

/**
 * A password read from standard input (never from the command line, where `ps` and shell history would show it):
 * all of stdin, without one trailing newline (`echo`, `printf '%s\n'`, a secret file), checked for length.
 */
export async function readPasswordStdin(stdin: NodeJS.ReadableStream = process.stdin): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stdin) {
    const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    size += buffer.length;
    if (size > MAX_STDIN_BYTES) throw new InputError('standard input is too large to be a password');
    chunks.push(buffer);
  }
  let password = Buffer.concat(chunks).toString('utf8');
  if (password.endsWith('\r\n')) password = password.slice(0, -2);
  else if (password.endsWith('\n')) password = password.slice(0, -1);
  if (password.length === 0) throw new InputError('no password on standard input');
  const problem = passwordProblem(password);
  if (problem !== undefined) throw new InputError(problem);
  return password;
}
