import { Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { BackgroundJob, PeriodicTask, runExclusively } from '../../../database/background-jobs';

/** Device rows live a minute by default (access_code_validity); a minute's delay keeps the table near its live size. */
const SWEEP_INTERVAL_MS = 60_000;

export interface DeviceSweepResult {
  deviceTokens: number;
  throttleWindows: number;
}

/**
 * Deletes expired device authorizations (approved or not: the token endpoint refuses them either way, as authentik's
 * ExpiringManager hides them) and ended throttle windows, one instance at a time (job 6).
 */
@Injectable()
export class DeviceSweep implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(DeviceSweep.name);
  private readonly sweeps = new PeriodicTask(
    'sweeping device authorizations',
    () => this.sweep(),
    this.logger,
  );

  constructor(private readonly dataSource: DataSource) {}

  /** What was deleted, or undefined when another instance is sweeping right now. */
  async sweep(): Promise<DeviceSweepResult | undefined> {
    const run = await runExclusively(this.dataSource, BackgroundJob.deviceSweep, async (manager) => {
      const [row] = await manager.query<DeviceSweepResult[]>(
        `WITH d AS (DELETE FROM oauth2_device_tokens WHERE expires <= now() RETURNING 1),
              t AS (DELETE FROM device_throttle WHERE window_end <= now() RETURNING 1)
         SELECT (SELECT count(*) FROM d)::int AS "deviceTokens", (SELECT count(*) FROM t)::int AS "throttleWindows"`,
      );
      return row ?? { deviceTokens: 0, throttleWindows: 0 };
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
