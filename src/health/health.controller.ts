import { Controller, Get, HttpStatus, Res } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { DataSource } from 'typeorm';
import { Public } from '../common/auth/public.decorator';
import { circuitBreakerOf } from '../database/guarded-pool';
import { pendingMigrations } from '../database/migrations';
import { StartupState } from './startup-state';

const READY_TIMEOUT_MS = 1500;

/** Liveness and readiness for load balancers and orchestrators; outside /api/v3 and public, as in authentik. */
@ApiExcludeController()
@Public()
@Controller('-/health')
export class HealthController {
  constructor(
    private readonly dataSource: DataSource,
    private readonly startup: StartupState,
  ) {}

  /** 200 while the process serves requests; never touches the database. */
  @Get('live')
  live(): { status: string } {
    return { status: 'ok' };
  }

  /**
   * 200 only when the database answers and every migration is applied. While the database circuit is open, 503 at
   * once: the API answers 503 too, and the breaker's own probe is what finds the database back.
   */
  @Get('ready')
  async ready(@Res({ passthrough: true }) reply: FastifyReply): Promise<Record<string, string>> {
    let database = 'ok';
    let migrations = 'ok';
    try {
      if (circuitBreakerOf(this.dataSource)?.isOpen) throw new Error('circuit open');
      const pending = await withTimeout(pendingMigrations(this.dataSource), READY_TIMEOUT_MS);
      // Migrated but not bootstrapped yet (RUN_MIGRATIONS=false, see main.ts): a moment more.
      if (pending.length > 0 || !this.startup.bootstrapped) migrations = 'pending';
    } catch {
      database = 'unavailable';
      migrations = 'unknown';
    }
    const ok = database === 'ok' && migrations === 'ok';
    void reply.status(ok ? HttpStatus.OK : HttpStatus.SERVICE_UNAVAILABLE);
    return { status: ok ? 'ok' : 'unavailable', database, migrations };
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('timed out')), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
