import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { EmbeddedPostgresError } from './embedded-error';
import { openFlags, openOwnFile, readOwnFile } from './embedded-fs';

/**
 * Locks on files in DATA_DIR, with flock(2) through util-linux's flock(1) (Node has no flock).
 *
 * The lock is taken on a descriptor Node opened and hands to `flock` as fd 3. flock(2) locks belong to the open file
 * description, not to the process, so when `flock` exits the lock stays held by Node's descriptor, until Node closes
 * it or dies: the kernel releases it, so a killed process never leaves a lock behind, and no pid is ever guessed.
 * Being a kernel lock on the file, it holds between processes in different PID namespaces (containers) sharing the
 * volume, as long as they share the kernel; over NFS it depends on the server's lock support.
 *
 * Without flock(1) (macOS, minimal images) the exclusive lock falls back to a file created with O_EXCL that names
 * its holder (pid, boot id, PID namespace, start time); a holder is only displaced when it is proven gone, which
 * can only be proven on the same host, boot and PID namespace. A holder in another namespace is waited for.
 */

const FLOCK_CANDIDATES = ['/usr/bin/flock', '/bin/flock', '/usr/local/bin/flock', '/usr/sbin/flock'];
const CONFLICT = 75;

let flockPath: string | null | undefined;

export function flockBinary(): string | null {
  if (flockPath === undefined) {
    flockPath = null;
    for (const candidate of FLOCK_CANDIDATES) {
      try {
        fs.accessSync(candidate, fs.constants.X_OK);
        flockPath = candidate;
        break;
      } catch {
        /* next */
      }
    }
  }
  return flockPath;
}

export interface HeldLock {
  release(): void;
}

/**
 * Runs flock(1) on `fd`; resolves true when the lock is now held by that descriptor, false when another holder kept
 * it for `waitMs` (0: do not wait).
 */
function flockFd(fd: number, kind: 'exclusive' | 'shared', waitMs: number): Promise<boolean> {
  const binary = flockBinary();
  if (binary === null) return Promise.reject(new Error('flock(1) is not available'));
  const args = [
    `--${kind}`,
    '--conflict-exit-code',
    String(CONFLICT),
    ...(waitMs > 0 ? ['--wait', String(waitMs / 1000)] : ['--nonblock']),
    '3',
  ];
  return new Promise((resolve, reject) => {
    const child = spawn(binary, args, { stdio: ['ignore', 'ignore', 'pipe', fd] });
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) resolve(true);
      else if (code === CONFLICT) resolve(false);
      else {
        reject(
          new EmbeddedPostgresError(
            `cannot lock a file in DATA_DIR (flock: ${stderr.trim() || `exit ${code ?? 'by signal'}`}); ` +
              `put DATA_DIR on a local file system that supports locks`,
          ),
        );
      }
    });
  });
}

function openLockFile(file: string): number {
  return openOwnFile(file, openFlags.O_RDWR | openFlags.O_CREAT, 0o600);
}

/** Waits up to `waitMs` for the exclusive lock on `file`; null when it stayed taken. */
export async function exclusiveLock(file: string, waitMs: number): Promise<HeldLock | null> {
  if (flockBinary() === null) return exclusiveLockWithoutFlock(`${file}.holder`, waitMs);
  const fd = openLockFile(file);
  let held = false;
  try {
    held = await flockFd(fd, 'exclusive', waitMs);
  } finally {
    if (!held) fs.closeSync(fd);
  }
  if (!held) return null;
  let open = true;
  return {
    release() {
      if (open) fs.closeSync(fd);
      open = false;
    },
  };
}

/**
 * For the postmaster: a descriptor holding the exclusive lock on `file`, to be inherited by the postmaster so the
 * lock lives exactly as long as it (and its children) do. Null when another process holds it, undefined when flock
 * is unavailable. The caller closes its copy after spawning.
 */
export async function lockForChild(file: string): Promise<number | null | undefined> {
  if (flockBinary() === null) return undefined;
  const fd = openLockFile(file);
  if (await flockFd(fd, 'exclusive', 0)) return fd;
  fs.closeSync(fd);
  return null;
}

/** Whether some process holds a lock on `file` ('unknown' without flock). Takes and drops the lock when free. */
export async function lockHeld(file: string): Promise<boolean | 'unknown'> {
  if (flockBinary() === null) return 'unknown';
  const fd = openLockFile(file);
  try {
    return !(await flockFd(fd, 'exclusive', 0));
  } finally {
    fs.closeSync(fd);
  }
}

export interface Holder {
  pid: number;
  host: string;
  boot?: string;
  pidns?: string;
  start?: string;
  nonce: string;
}

function readOr(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch {
    return undefined;
  }
}

function processStart(pid: number): string | undefined {
  const stat = readOr(`/proc/${pid}/stat`);
  // Field 22 (start time in clock ticks since boot), counted after the parenthesised command name.
  return stat?.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
}

function pidNamespace(): string | undefined {
  try {
    return fs.readlinkSync('/proc/self/ns/pid');
  } catch {
    return undefined;
  }
}

function me(): Holder {
  return {
    pid: process.pid,
    host: os.hostname(),
    boot: readOr('/proc/sys/kernel/random/boot_id'),
    pidns: pidNamespace(),
    start: processStart(process.pid),
    nonce: randomBytes(8).toString('hex'),
  };
}

/** Exported for its spec: the holder file of the lock-file fallback. */
export function provenGone(holder: Holder, self: Holder = me()): boolean {
  if (holder.host !== self.host || holder.boot !== self.boot || holder.pidns !== self.pidns) return false;
  try {
    process.kill(holder.pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
  return holder.start !== undefined && processStart(holder.pid) !== holder.start;
}

export async function exclusiveLockWithoutFlock(file: string, waitMs: number): Promise<HeldLock | null> {
  const self = me();
  const content = JSON.stringify(self);
  const deadline = Date.now() + waitMs;
  for (;;) {
    try {
      const fd = fs.openSync(
        file,
        openFlags.O_WRONLY | openFlags.O_CREAT | openFlags.O_EXCL | fs.constants.O_NOFOLLOW,
        0o600,
      );
      fs.writeSync(fd, content);
      fs.closeSync(fd);
      return {
        release() {
          if (readOr(file) === content) fs.rmSync(file, { force: true });
        },
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const seen = readOwnFile(file);
    let holder: Holder | undefined;
    try {
      holder = seen ? (JSON.parse(seen) as Holder) : undefined;
    } catch {
      holder = undefined;
    }
    const stale =
      holder !== undefined
        ? provenGone(holder, self)
        : Date.now() - (fs.lstatSync(file, { throwIfNoEntry: false })?.mtimeMs ?? Date.now()) > 10_000;
    if (stale) {
      // Move it aside and check that what moved is what was judged gone; a fresh holder's file is put back.
      const aside = path.join(path.dirname(file), `.stale-${randomBytes(6).toString('hex')}`);
      try {
        fs.renameSync(file, aside);
        if ((readOr(aside) ?? '') === (seen ?? '')) fs.rmSync(aside, { force: true });
        else {
          try {
            fs.linkSync(aside, file);
          } finally {
            fs.rmSync(aside, { force: true });
          }
        }
      } catch {
        /* someone else moved it first */
      }
      continue;
    }
    if (Date.now() > deadline) return null;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
