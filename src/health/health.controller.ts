import { Controller, Get, HttpStatus, Res } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { DataSource } from 'typeorm';
import { MIGRATIONS } from '../../migrations';
import { Public } from '../common/auth/public.decorator';
import { circuitBreakerOf } from '../database/guarded-pool';

const READY_TIMEOUT_MS = 1500;

/** Liveness and readiness for load balancers and orchestrators; outside /api/v3 and public, as in authentik. */
@ApiExcludeController()
@Public()
@Controller('-/health')
export class HealthController {
  private readonly expected = MIGRATIONS.map((migration) => migration.name);

  constructor(private readonly dataSource: DataSource) {}

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
      const applied = await withTimeout(
        this.dataSource.query<{ name: string }[]>('SELECT name FROM migrations'),
        READY_TIMEOUT_MS,
      );
      const names = new Set(applied.map((row) => row.name));
      if (!this.expected.every((name) => names.has(name))) migrations = 'pending';
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
