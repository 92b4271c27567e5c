import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '..', '..');
export const SERVER_ENTRY = path.join(ROOT, 'dist', 'src', 'main.js');

/** A private data dir the `postgres` OS user can reach (under the system temp dir, mode 0755). */
export function scratchDir(prefix: string): string {
  const dir = path.join(
    os.tmpdir(),
    `${prefix}-${process.pid}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`,
  );
  fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
  fs.chmodSync(dir, 0o755);
  return dir;
}

export interface ServerProcess {
  /** The server, or with `terminal`, the `script` process holding the terminal it runs in. */
  child: ChildProcess;
  /** The server's own pid. */
  pid: number;
  stdout: string[];
  stderr: string[];
  url: string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * Starts the built server and resolves once it logs "ready" (rejects if it exits first or takes too long). With
 * `terminal`, its stdout is a pseudo-terminal (util-linux `script`), as when a person runs `npm start`; the output
 * arrives on `stdout` with the terminal's CRLF line ends turned back into LF.
 */
export async function startServer(
  env: Record<string, string>,
  timeoutMs = 60_000,
  { terminal = false, cwd = ROOT }: { terminal?: boolean; cwd?: string } = {},
): Promise<ServerProcess> {
  const command: [string, string[]] = terminal
    ? [
        'script',
        ['--quiet', '--return', '--command', `exec ${process.execPath} ${SERVER_ENTRY}`, '/dev/null'],
      ]
    : [process.execPath, [path.join(cwd, 'dist', 'src', 'main.js')]];
  const child = spawn(command[0], command[1], {
    cwd,
    env: { PATH: process.env.PATH ?? '', PORT: '0', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const stdout: string[] = [];
  const stderr: string[] = [];
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('exit', (code, signal) => resolve({ code, signal }));
  });
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`server not ready in ${timeoutMs} ms:\n${stdout.join('')}${stderr.join('')}`)),
      timeoutMs,
    );
    let ready = false;
    child.stdout.on('data', (chunk: Buffer) => {
      stdout.push(chunk.toString().replace(/\r\n/g, '\n'));
      // Past "ready" only collect: re-reading all output per chunk would be quadratic in a long, chatty run.
      if (ready) return;
      for (const line of stdout.join('').split('\n')) {
        if (!line.startsWith('{')) continue;
        try {
          const parsed = JSON.parse(line) as { msg?: string; url?: string };
          if (parsed.msg === 'ready' && parsed.url) {
            ready = true;
            clearTimeout(timer);
            resolve(parsed.url);
          }
        } catch {
          /* partial line */
        }
      }
    });
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk.toString()));
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(
        new Error(`server exited (${code ?? signal}) before ready:\n${stdout.join('')}${stderr.join('')}`),
      );
    });
  });
  // `script` runs the server as its only child (`exec` replaces the shell).
  const pid = terminal
    ? Number(execFileSync('pgrep', ['-P', String(child.pid)], { encoding: 'utf8' }).trim())
    : (child.pid ?? 0);
  return { child, stdout, stderr, url, pid, exited };
}

/** The key printed once at first start in a terminal, if it was. */
export function printedAdminKey(server: ServerProcess): string | undefined {
  const text = server.stdout.join('');
  const match = /API key \(shown only now[^\n]*\n\n\s+(\S+)\n/.exec(text);
  return match?.[1];
}

/** The key a server without a terminal left in DATA_DIR at first start, if it did. */
export function adminKeyFile(dataDir: string): string | undefined {
  try {
    return fs.readFileSync(path.join(dataDir, 'initial-admin-key'), 'utf8');
  } catch {
    return undefined;
  }
}

export async function waitFor(
  check: () => Promise<boolean> | boolean,
  timeoutMs: number,
  intervalMs = 100,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
  return check();
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export function postmasterPid(dataDir: string): number | undefined {
  try {
    return Number(fs.readFileSync(path.join(dataDir, 'postgres', 'postmaster.pid'), 'utf8').split('\n')[0]);
  } catch {
    return undefined;
  }
}
