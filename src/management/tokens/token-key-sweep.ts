import { Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { DataSource, Raw } from 'typeorm';
import { BackgroundJob, PeriodicTask, runExclusively } from '../../database/background-jobs';
import { ApiTokenEntity } from '../../identity/api-token.entity';

/** Copies live ten minutes; a sweep a minute keeps a forgotten one at most eleven minutes in the table. */
const SWEEP_INTERVAL_MS = 60_000;

/**
 * Destroys the sealed key copies `view_key/` was never asked for within their ten minutes, one instance at a time
 * (job 7). `view_key/` itself refuses a copy past its time, so the sweep only bounds how long ciphertext stays.
 */
@Injectable()
export class TokenKeyCopySweep implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(TokenKeyCopySweep.name);
  private readonly sweeps = new PeriodicTask('sweeping token key copies', () => this.sweep(), this.logger);

  constructor(private readonly dataSource: DataSource) {}

  /** How many copies were destroyed, or undefined when another instance is sweeping right now. */
  async sweep(): Promise<number | undefined> {
    const run = await runExclusively(this.dataSource, BackgroundJob.tokenKeyCopySweep, async (manager) => {
      // `now()` is the database's clock, the one view_key/ compares the copy's time with.
      const swept = await manager
        .getRepository(ApiTokenEntity)
        .update(
          { keyCopyUntil: Raw((column) => `${column} <= now()`) },
          { keyCopy: null, keyCopyUntil: null },
        );
      return swept.affected ?? 0;
    });
    return run?.result;
  }

  onApplicationBootstrap(): void {
    this.sweeps.start(SWEEP_INTERVAL_MS);
  }

  onApplicationShutdown(): Promise<void> {
    return this.sweeps.stop();
  }
}
