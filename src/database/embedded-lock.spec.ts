import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { exclusiveLock, exclusiveLockWithoutFlock, flockBinary, lockHeld } from './embedded-lock';

const COMPILED = path.resolve(__dirname, '..', '..', 'dist', 'src', 'database', 'embedded-lock.js');
// eslint-disable-next-line no-restricted-properties -- needs flock(1); CI's machine has it, so CI runs these
const withFlock = flockBinary() === null ? it.skip : it;

describe('the data directory lock', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'grantry-lock-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  withFlock('is exclusive between descriptors, even in one process, until released', async () => {
    const file = path.join(dir, 'embedded.lock');
    const first = await exclusiveLock(file, 0);
    expect(first).not.toBeNull();
    expect(await exclusiveLock(file, 0)).toBeNull();
    expect(await lockHeld(file)).toBe(true);
    first?.release();
    expect(await lockHeld(file)).toBe(false);
    const again = await exclusiveLock(file, 0);
    expect(again).not.toBeNull();
    again?.release();
  });

  withFlock('is released by the kernel when its holder is killed, leaving nothing to clean up', async () => {
    const file = path.join(dir, 'embedded.lock');
    const holder = spawn(
      process.execPath,
      [
        '-e',
        `require(${JSON.stringify(COMPILED)}).exclusiveLock(${JSON.stringify(file)}, 0)` +
          `.then((lock) => { console.log(lock ? 'held' : 'refused'); setInterval(() => {}, 1000); })`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const said = await new Promise<string>((resolve) =>
      holder.stdout.once('data', (chunk: Buffer) => resolve(chunk.toString().trim())),
    );
    expect(said).toBe('held');
    expect(await exclusiveLock(file, 200)).toBeNull();
    const gone = new Promise((resolve) => holder.once('exit', resolve));
    holder.kill('SIGKILL');
    await gone;
    const taken = await exclusiveLock(file, 5000);
    expect(taken).not.toBeNull();
    taken?.release();
  });

  it('without flock(1), falls back to a holder file: exclusive, and released', async () => {
    const file = path.join(dir, 'embedded.lock.holder');
    const first = await exclusiveLockWithoutFlock(file, 0);
    expect(first).not.toBeNull();
    const started = Date.now();
    expect(await exclusiveLockWithoutFlock(file, 300)).toBeNull();
    expect(Date.now() - started).toBeGreaterThanOrEqual(300);
    first?.release();
    expect(fs.existsSync(file)).toBe(false);
    const again = await exclusiveLockWithoutFlock(file, 0);
    expect(again).not.toBeNull();
    again?.release();
  });

  it('without flock(1), takes over from a holder proven gone, never from one it cannot check', async () => {
    const file = path.join(dir, 'embedded.lock.holder');
    const dead = spawnSync(process.execPath, ['-e', 'console.log(process.pid)'], { encoding: 'utf8' });
    const deadPid = Number(dead.stdout.trim());
    const boot = fs.existsSync('/proc/sys/kernel/random/boot_id')
      ? fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim()
      : undefined;
    const pidns = fs.existsSync('/proc/self/ns/pid') ? fs.readlinkSync('/proc/self/ns/pid') : undefined;
    const holder = { pid: deadPid, host: os.hostname(), boot, pidns, nonce: 'x' };

    fs.writeFileSync(file, JSON.stringify(holder), { mode: 0o600 });
    const taken = await exclusiveLockWithoutFlock(file, 0);
    expect(taken).not.toBeNull();
    taken?.release();

    // The same pid in another PID namespace (another container) may well be alive: it is waited for.
    fs.writeFileSync(file, JSON.stringify({ ...holder, pidns: 'pid:[1]' }), { mode: 0o600 });
    expect(await exclusiveLockWithoutFlock(file, 300)).toBeNull();
    expect(fs.existsSync(file)).toBe(true);
  });
});
