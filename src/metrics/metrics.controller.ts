import { createHash, timingSafeEqual } from 'node:crypto';
import { Controller, Get, Headers, HttpStatus, Inject, Res } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { parseAuthorization } from '../common/auth/authorization-header';
import { Public } from '../common/auth/public.decorator';
import { ApiError } from '../common/errors/api-error';
import { APP_CONFIG, type AppConfig } from '../config/config';
import { Metrics } from './metrics';

const CHALLENGE = { 'www-authenticate': 'Bearer realm="grantry-metrics"' };

const digest = (value: string): Buffer => createHash('sha256').update(value, 'utf8').digest();

/**
 * GET /-/metrics: the Prometheus text exposition of this instance. Mounted only when METRICS_TOKEN is set (see
 * MetricsModule), and then only for `Authorization: Bearer <METRICS_TOKEN>`. Public to the API's guard: the API's
 * keys do not open it, and the metrics token opens nothing else.
 */
@ApiExcludeController()
@Public()
@Controller('-')
export class MetricsController {
  private readonly expected: Buffer;

  constructor(
    private readonly metrics: Metrics,
    @Inject(APP_CONFIG) config: AppConfig,
  ) {
    if (config.metricsToken === undefined) throw new Error('MetricsController mounted without METRICS_TOKEN');
    this.expected = digest(config.metricsToken);
  }

  @Get('metrics')
  async scrape(
    @Headers('authorization') authorization: string | undefined,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<string> {
    const parsed = parseAuthorization(authorization);
    if (parsed.kind !== 'bearer') {
      this.metrics.authFailure('metrics', 'missing');
      throw new ApiError(HttpStatus.UNAUTHORIZED, 'Authentication credentials were not provided.', CHALLENGE);
    }
    // Both sides hashed first: equal lengths for timingSafeEqual, and no timing that depends on the token's length.
    if (!timingSafeEqual(digest(parsed.key), this.expected)) {
      this.metrics.authFailure('metrics', 'invalid');
      throw new ApiError(HttpStatus.UNAUTHORIZED, 'Invalid metrics token.', {
        'www-authenticate': 'Bearer realm="grantry-metrics", error="invalid_token"',
      });
    }
    const { contentType, text } = await this.metrics.scrape();
    void reply.type(contentType);
    return text;
  }
}
