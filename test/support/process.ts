import { spawn } from 'node:child_process';

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs a command to its end as a user would, with only the environment given plus PATH, and returns its exit code
 * and its whole stdout and stderr.
 */
export function runProcess(
  command: string,
  args: readonly string[],
  { cwd, env, stdin }: { cwd: string; env: Record<string, string>; stdin?: string | Buffer },
): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd,
      env: { PATH: process.env.PATH ?? '', ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    // No input: stdin is at its end at once, as with 'ignore'.
    child.stdin.on('error', () => undefined);
    child.stdin.end(stdin ?? '');
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}
