import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { EmbeddedPostgresError } from './embedded-error';

/**
 * File handling for the embedded cluster that never follows a symbolic link Grantry did not make.
 *
 * As root, Grantry works in directories that the `postgres` OS user also writes to (PGDATA belongs to it). A link
 * planted there must not turn a root-privileged read, write, chown or delete into one on the link's target, so every
 * file is opened with O_NOFOLLOW and checked with fstat, directories are walked through their open descriptors, and
 * anything owned by `postgres` is deleted by a process running as `postgres`.
 */

/** The OS user PostgreSQL runs as; both undefined when Grantry is not root and PostgreSQL runs as Grantry's user. */
export interface RunAs {
  uid?: number;
  gid?: number;
}

const { O_RDONLY, O_WRONLY, O_RDWR, O_CREAT, O_EXCL, O_APPEND, O_NOFOLLOW, O_NONBLOCK, O_DIRECTORY } =
  fs.constants;
const O_NOCTTY = fs.constants.O_NOCTTY ?? 0;

export function euid(): number | undefined {
  return typeof process.geteuid === 'function' ? process.geteuid() : undefined;
}

export function lstatOrNull(file: string): fs.Stats | null {
  try {
    return fs.lstatSync(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
}

function mode(stat: fs.Stats): string {
  return `0${(stat.mode & 0o777).toString(8)}`;
}

/**
 * Opens a regular file without following a link in its last component and checks that it is ours: a link, a FIFO
 * or a file of another user in its place is refused.
 */
export function openOwnFile(file: string, flags: number, createMode = 0o600): number {
  let fd: number;
  try {
    fd = fs.openSync(file, flags | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY, createMode);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ELOOP') {
      throw new EmbeddedPostgresError(
        `${file} is a symbolic link; Grantry does not follow links it did not make. Remove it and start again`,
      );
    }
    throw error;
  }
  const stat = fs.fstatSync(fd);
  const me = euid();
  if (!stat.isFile() || (me !== undefined && stat.uid !== me)) {
    fs.closeSync(fd);
    throw new EmbeddedPostgresError(
      `${file} is not a regular file of this user (uid ${stat.uid}); Grantry will not use it. Remove it and start again`,
    );
  }
  return fd;
}

export function readOwnFile(file: string): string | null {
  let fd: number;
  try {
    fd = openOwnFile(file, O_RDONLY);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
  try {
    return fs.readFileSync(fd, 'utf8');
  } finally {
    fs.closeSync(fd);
  }
}

/** Replaces `file` atomically: a new file (O_EXCL, so never a planted one) renamed over it. */
export function writeOwnFile(file: string, content: string, fileMode = 0o600): void {
  const temp = `${file}.tmp-${process.pid}-${Date.now().toString(36)}`;
  const fd = fs.openSync(temp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, fileMode);
  try {
    fs.writeSync(fd, content);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(temp, file);
}

export function openAppendOwnFile(file: string): number {
  return openOwnFile(file, O_WRONLY | O_APPEND | O_CREAT, 0o600);
}

/**
 * Reads a file in a directory another user controls (PGDATA): not through a link, only a regular file, bounded.
 * Null when it does not exist or is not a plain file.
 */
export function readForeignFile(file: string, maxBytes = 4096): string | null {
  let fd: number;
  try {
    fd = fs.openSync(file, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
  } catch {
    return null;
  }
  try {
    if (!fs.fstatSync(fd).isFile()) return null;
    const buffer = Buffer.alloc(maxBytes);
    const length = fs.readSync(fd, buffer, 0, maxBytes, 0);
    return buffer.subarray(0, length).toString('utf8');
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * DATA_DIR, resolved once to its real path and checked: a directory of this user that nobody else may write to.
 * Resolving once is what lets a symlinked DATA_DIR work (and compare equal to its target); the checks are what make
 * trusting the entries inside it safe, since nobody else can plant a link there.
 */
export function prepareDataDir(given: string): string {
  const absolute = path.resolve(given);
  if (lstatOrNull(absolute) === null) {
    try {
      fs.mkdirSync(absolute, { recursive: true, mode: 0o755 });
    } catch (error) {
      throw new EmbeddedPostgresError(
        `cannot create DATA_DIR ${absolute}: ${(error as Error).message}. Create it, or set DATA_DIR elsewhere`,
      );
    }
  }
  let real: string;
  try {
    real = fs.realpathSync(absolute);
  } catch (error) {
    throw new EmbeddedPostgresError(
      `DATA_DIR ${absolute} cannot be resolved (${(error as NodeJS.ErrnoException).code ?? 'error'}): a dangling link? Set DATA_DIR to an existing directory`,
    );
  }
  const stat = fs.lstatSync(real);
  if (!stat.isDirectory()) {
    throw new EmbeddedPostgresError(`DATA_DIR ${real} is not a directory; set DATA_DIR to a directory`);
  }
  const me = euid();
  if (me !== undefined && stat.uid !== me) {
    throw new EmbeddedPostgresError(
      `DATA_DIR ${real} belongs to uid ${stat.uid}, not to this user (uid ${me}); whoever owns it could plant links ` +
        `that Grantry would follow. Use a directory of your own, or chown it to uid ${me}`,
    );
  }
  // Windows reports made-up modes; its ACLs are not checked here.
  if (process.platform !== 'win32' && (stat.mode & 0o022) !== 0) {
    throw new EmbeddedPostgresError(
      `DATA_DIR ${real} is writable by others (mode ${mode(stat)}), who could plant links there; run "chmod go-w ${real}"`,
    );
  }
  return real;
}

/** The first directory from `dir` up (dir being a real path) that the user `runAs` cannot enter, if any. */
export function blockingAncestor(dir: string, runAs: RunAs): string | undefined {
  if (runAs.uid === undefined) return undefined;
  let current = dir;
  for (;;) {
    const stat = fs.statSync(current);
    const othersCanEnter = (stat.mode & 0o001) !== 0;
    const ownerCanEnter = stat.uid === runAs.uid && (stat.mode & 0o100) !== 0;
    const groupCanEnter = stat.gid === runAs.gid && (stat.mode & 0o010) !== 0;
    if (!othersCanEnter && !ownerCanEnter && !groupCanEnter) return current;
    const parent = path.dirname(current);
    if (parent === current) return undefined;
    current = parent;
  }
}

/**
 * A directory only root writes to and everyone may enter (under /var/lib/grantry-postgres): created when missing,
 * refused when it is a link, belongs to someone else, or others may write to it.
 */
export function ensureRootOwnedDir(dir: string): void {
  let stat = lstatOrNull(dir);
  if (stat === null) {
    try {
      fs.mkdirSync(dir, { mode: 0o755 });
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'EEXIST') {
        throw new EmbeddedPostgresError(
          `cannot create ${dir} (${code ?? 'error'}), where Grantry keeps what the OS user "postgres" cannot ` +
            `reach in a private checkout or DATA_DIR; let "postgres" enter those directories (chmod o+x), or set ` +
            `DATABASE_URL to use your own PostgreSQL`,
        );
      }
    }
    stat = fs.lstatSync(dir);
  }
  if (!stat.isDirectory() || stat.uid !== 0 || (stat.mode & 0o022) !== 0) {
    throw new EmbeddedPostgresError(
      `${dir} must be a directory owned by root that others cannot write to (found ${
        stat.isSymbolicLink() ? 'a symbolic link' : `uid ${stat.uid}, mode ${mode(stat)}`
      }); remove it and start again`,
    );
  }
  if ((stat.mode & 0o555) !== 0o555) fs.chmodSync(dir, 0o755);
}

/**
 * Gives the tree at `root` to uid:gid without following links: directories are walked through their open
 * descriptors (/proc/self/fd/N/name, so a directory swapped for a link mid-walk is never entered), links themselves
 * are re-owned (lchown), and a hard-linked file (whose other name may be outside) is refused.
 */
export function chownTree(root: string, uid: number, gid: number): void {
  if (!fs.existsSync('/proc/self/fd')) {
    throw new EmbeddedPostgresError(
      `${root} does not belong to the PostgreSQL OS user (uid ${uid}) and this system has no /proc to re-own it ` +
        `safely; run "chown -R -P ${uid}:${gid} ${root}" yourself if you trust its contents`,
    );
  }
  const refuse = (what: string, why: string): never => {
    throw new EmbeddedPostgresError(
      `${what} ${why}, so Grantry will not change its owner; remove it, or re-own ${root} to uid ${uid} yourself`,
    );
  };
  // Each directory is re-owned after its contents, so a walk that stops half-way leaves the top directory as it
  // was, and the next start (which checks only the top) walks again.
  const walk = (dirFd: number, shown: string): void => {
    const base = `/proc/self/fd/${dirFd}`;
    for (const name of fs.readdirSync(base)) {
      const entry = `${base}/${name}`;
      const label = path.join(shown, name);
      const stat = fs.lstatSync(entry);
      if (stat.isSymbolicLink()) {
        fs.lchownSync(entry, uid, gid);
      } else if (stat.isDirectory()) {
        const child = fs.openSync(entry, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
        try {
          walk(child, label);
        } finally {
          fs.closeSync(child);
        }
      } else if (stat.isFile()) {
        const fd = fs.openSync(entry, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
        try {
          const opened = fs.fstatSync(fd);
          if (!opened.isFile()) refuse(label, 'changed type while being read');
          if (opened.nlink > 1) refuse(label, `has ${opened.nlink} hard links`);
          fs.fchownSync(fd, uid, gid);
        } finally {
          fs.closeSync(fd);
        }
      } else {
        refuse(label, 'is neither a file, a directory nor a symbolic link');
      }
    }
    fs.fchownSync(dirFd, uid, gid);
  };
  let top: number;
  try {
    top = fs.openSync(root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ELOOP' || code === 'ENOTDIR') return refuse(root, 'is not a directory');
    throw error;
  }
  try {
    walk(top, root);
  } finally {
    fs.closeSync(top);
  }
}

/**
 * Deletes `dir`, a directory Grantry made (a failed initdb) whose contents belong to `runAs`: the contents are
 * deleted by a process running as that user, so a link planted inside can reach nothing that user could not
 * delete anyway; the emptied directory itself is then removed without recursion.
 */
export function removeOwnedBy(dir: string, runAs: RunAs): void {
  if (runAs.uid === undefined) {
    fs.rmSync(dir, { recursive: true, force: true });
    return;
  }
  for (const name of fs.readdirSync(dir)) {
    spawnSync('rm', ['-rf', '--', path.join(dir, name)], {
      uid: runAs.uid,
      gid: runAs.gid,
      stdio: 'ignore',
      timeout: 60_000,
    });
  }
  fs.rmdirSync(dir);
}

export const openFlags = { O_RDONLY, O_RDWR, O_CREAT, O_WRONLY, O_EXCL };
