/** The harness's child processes: started here, tracked, and stopped on exit, on error and on Ctrl-C. */
import { type ChildProcess, execFile, fork, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';

const children = new Set<ChildProcess>();
const cleanups: (() => Promise<void>)[] = [];
const exitKills: (() => void)[] = [];

export class HarnessError extends Error {}

/** A command-line option that must be a positive number (an integer when `integer`); `fallback` when absent. */
export function positive(name: string, raw: string | undefined, fallback: number, integer = false): number {
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0 || (integer && !Number.isInteger(value))) {
    throw new HarnessError(`--${name} must be a positive ${integer ? 'integer' : 'number'}, got "${raw}"`);
  }
  return value;
}

function track(child: ChildProcess): ChildProcess {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

/** Runs before the process exits (normal end, error or signal), in reverse order of registration. */
export function onCleanup(cleanup: () => Promise<void>): void {
  cleanups.unshift(cleanup);
}

/** A synchronous last resort, run from process.on('exit') (e.g. killing a postmaster by pid). */
export function onExitKill(kill: () => void): void {
  exitKills.push(kill);
}

function alive(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}

export async function stopChild(child: ChildProcess, timeoutMs = 15_000): Promise<void> {
  if (!alive(child)) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => {
    if (alive(child)) child.kill('SIGKILL');
  }, timeoutMs);
  await exited;
  clearTimeout(timer);
}

let cleaning: Promise<void> | undefined;

export function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    await Promise.all([...children].map((child) => stopChild(child, 10_000).catch(() => undefined)));
    for (const step of cleanups) await step().catch(() => undefined);
  })();
  return cleaning;
}

let interrupted = false;

/** True once Ctrl-C (or SIGTERM) arrived: the harness is stopping and exits with 130. */
export function isInterrupted(): boolean {
  return interrupted;
}

export function installSignalHandlers(): void {
  const onSignal = (signal: NodeJS.Signals): void => {
    if (interrupted) return;
    interrupted = true;
    process.stderr.write(`\n${signal}: stopping the servers and the database...\n`);
    void cleanup().finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('exit', () => {
    for (const child of children) if (alive(child)) child.kill('SIGKILL');
    for (const kill of exitKills) {
      try {
        kill();
      } catch {
        /* best effort */
      }
    }
  });
}

export interface Server {
  name: string;
  child: ChildProcess;
  pid: number;
  port: number;
  url: string;
  /** Milliseconds from spawn to the first 200 of the readiness URL. */
  readyMs: number;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
export { sleep };

/** Spawns a node server, logs to `logFile`, and waits for `readyPath` to answer 200. */
export async function startServer(options: {
  name: string;
  script: string;
  env: NodeJS.ProcessEnv;
  port: number;
  logFile: string;
  readyPath: string;
  timeoutMs?: number;
}): Promise<Server> {
  fs.mkdirSync(path.dirname(options.logFile), { recursive: true });
  const log = fs.openSync(options.logFile, 'a');
  const started = performance.now();
  const child = track(
    spawn(process.execPath, [options.script], {
      env: options.env,
      stdio: ['ignore', log, log],
    }),
  );
  fs.closeSync(log);
  let exit: string | undefined;
  child.once('exit', (code, signal) => {
    exit = signal ?? `code ${code}`;
  });
  const url = `http://127.0.0.1:${options.port}`;
  const deadline = Date.now() + (options.timeoutMs ?? 120_000);
  for (;;) {
    if (exit !== undefined) {
      throw new HarnessError(`${options.name} exited (${exit}) before it was ready; see ${options.logFile}`);
    }
    try {
      const response = await fetch(`${url}${options.readyPath}`, { signal: AbortSignal.timeout(2000) });
      await response.arrayBuffer();
      if (response.status === 200) break;
    } catch {
      /* not listening yet */
    }
    if (Date.now() > deadline) {
      await stopChild(child);
      throw new HarnessError(`${options.name} was not ready in time; see ${options.logFile}`);
    }
    await sleep(20);
  }
  const readyMs = performance.now() - started;
  return { name: options.name, child, pid: child.pid ?? 0, port: options.port, url, readyMs };
}

/** Runs a command to completion; rejects with its stderr on a non-zero exit. */
export function run(
  file: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  timeoutMs = 60 * 60_000,
): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = track(
      execFile(
        file,
        args,
        { env, maxBuffer: 64 * 1024 * 1024, timeout: timeoutMs },
        (error, stdout, stderr) => {
          if (error) {
            reject(
              new HarnessError(`${[file, ...args].join(' ')} failed: ${stderr.trim() || error.message}`),
            );
          } else resolve(stdout);
        },
      ),
    );
    void child;
  });
}

/** Forks a node script, sends it one message and resolves with its one answer. */
export function forkOnce<Req, Res>(script: string, message: Req, timeoutMs: number): Promise<Res> {
  return forkControlled<Req, Res>(script, message, timeoutMs).result;
}

/** Like forkOnce, with a way to ask the child to finish early (a `stop` message) before its answer. */
export function forkControlled<Req, Res>(
  script: string,
  message: Req,
  timeoutMs: number,
): { result: Promise<Res>; stop: () => void } {
  let child: ChildProcess | undefined;
  const result = new Promise<Res>((resolve, reject) => {
    child = track(fork(script, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
    const running = child;
    let settled = false;
    const timer = setTimeout(() => {
      if (!settled) {
        settled = true;
        running.kill('SIGKILL');
        reject(new HarnessError(`${path.basename(script)} did not answer in ${timeoutMs} ms`));
      }
    }, timeoutMs);
    running.once('message', (answer: { result?: Res; error?: string }) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (answer.error !== undefined || answer.result === undefined) {
        reject(new HarnessError(`${path.basename(script)}: ${answer.error ?? 'no result'}`));
      } else resolve(answer.result);
    });
    running.once('exit', (code) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      reject(new HarnessError(`${path.basename(script)} exited with code ${code} without an answer`));
    });
    running.send(message as object);
  });
  return {
    result,
    stop: () => {
      if (child && alive(child) && child.connected) child.send('stop');
    },
  };
}

/** VmRSS and VmHWM of a process, in bytes (0 when unreadable). */
export function memoryOf(pid: number): { rss: number; hwm: number } {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (key: string): number =>
      Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0);
    return { rss: kb('VmRSS') * 1024, hwm: kb('VmHWM') * 1024 };
  } catch {
    return { rss: 0, hwm: 0 };
  }
}

/**
 * Runs a harness's `main` and exits with its code after the clean-up; a failure is logged and exits 2. After Ctrl-C
 * the signal handler stops everything and exits with 130, so failures on the way are its doing and not reported.
 */
export function runHarness(main: () => Promise<number>, log: (message: string) => void): void {
  main()
    .then(async (code) => {
      if (isInterrupted()) return;
      await cleanup();
      process.exit(code);
    })
    .catch(async (error: unknown) => {
      if (isInterrupted()) return;
      log(`harness error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
      await cleanup();
      process.exit(2);
    });
}
