import type { DataSource, EntityManager } from 'typeorm';

/**
 * Advisory lock keys of the background jobs that every instance schedules but only one at a time may run. The
 * two-integer form of the key (class, job) has its own key space, apart from the single-bigint keys of the
 * migration and bootstrap locks. A new job takes the next free number.
 */
export const JOB_LOCK_CLASS = 0x6772616e; // "gran"
export const BackgroundJob = {
  grantCountsFold: 1,
  authFailureSweep: 2,
  loginFailureSweep: 3,
  sessionSweep: 4,
  grantCleanup: 5,
  deviceSweep: 6,
  tokenKeyCopySweep: 7,
} as const;
export type BackgroundJob = (typeof BackgroundJob)[keyof typeof BackgroundJob];

/** When a run of a job held its lock, by the database's clock (microseconds since the epoch). */
export interface JobRun<T> {
  result: T;
  startedUs: number;
  finishedUs: number;
}

/**
 * Runs `work` in one transaction while holding the job's advisory lock, or does nothing and returns undefined when
 * another session (another instance, usually) holds it: `pg_try_advisory_xact_lock` does not wait. Several instances
 * on one database therefore never run the same job at once, and none queues behind another; the next tick of
 * whichever instance comes first does the work. The lock is transaction-scoped, so it is released at commit or
 * rollback, and by PostgreSQL when the connection dies: a crashed instance never leaves a job locked.
 *
 * The returned times are read inside the transaction, after the lock was taken and before the work commits, so
 * the runs of one job never overlap in them (what test/instances.e2e-spec.ts checks across two processes).
 */
export async function runExclusively<T>(
  dataSource: DataSource,
  job: BackgroundJob,
  work: (manager: EntityManager) => Promise<T>,
): Promise<JobRun<T> | undefined> {
  return dataSource.transaction(async (manager) => {
    const [lock] = await manager.query<{ locked: boolean }[]>(
      'SELECT pg_try_advisory_xact_lock($1, $2) AS locked',
      [JOB_LOCK_CLASS, job],
    );
    if (lock?.locked !== true) return undefined;
    // Read in statements of their own: within the locking statement the clock might be read before the lock is.
    const startedUs = await clockUs(manager);
    const result = await work(manager);
    return { result, startedUs, finishedUs: await clockUs(manager) };
  });
}

async function clockUs(manager: EntityManager): Promise<number> {
  const [row] = await manager.query<{ us: string }[]>(
    'SELECT (extract(epoch FROM clock_timestamp()) * 1000000)::bigint::text AS us',
  );
  return Number(row?.us);
}

/**
 * A background task an instance runs every so often: on an unref'd interval (it never keeps the process alive),
 * never two runs of it at once in this process, a failed run logged at debug level and simply tried again at the
 * next tick (the database being away is the health check's and the requests' to report), and stop() waiting for a
 * run in flight so that shutdown closes the pool after it.
 */
export class PeriodicTask {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | undefined;

  constructor(
    private readonly what: string,
    private readonly run: () => Promise<unknown>,
    private readonly logger: { debug(message: string): void },
  ) {}

  /** Runs now unless a run is in flight; resolves to what the run resolved to (or the run in flight's). */
  runOnce<T>(): Promise<T> {
    this.running ??= this.run().finally(() => {
      this.running = undefined;
    });
    return this.running as Promise<T>;
  }

  /**
   * A run that starts after this call: one in flight may have started before the caller's writes, so it is waited
   * for (its outcome ignored) and then a run is started, or joined when another caller started one meanwhile.
   */
  async runAfterNow<T>(): Promise<T> {
    await this.running?.catch(() => undefined);
    return this.runOnce<T>();
  }

  start(intervalMs: number): void {
    if (intervalMs <= 0 || this.timer) return;
    this.timer = setInterval(() => {
      this.runOnce().catch((error: unknown) => {
        this.logger.debug(`${this.what} failed: ${error instanceof Error ? error.message : String(error)}`);
      });
    }, intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.running?.catch(() => undefined);
  }
}
