import { type DynamicModule, Global, Module } from '@nestjs/common';
import { collectDefaultMetrics } from 'prom-client';
import type { AppConfig } from '../config/config';
import { Metrics } from './metrics';
import { MetricsController } from './metrics.controller';
import { ScrapeGauges } from './scrape-gauges';

/**
 * The Metrics service, injectable everywhere (the server's and the CLI's commands report through it).
 *
 * The server serves GET /-/metrics only when METRICS_TOKEN is set. Unset, the endpoint does not exist (404, as any
 * unknown path) and no per-request hook runs. Off rather than open: Grantry's one listener also serves the sign-in
 * pages and the OAuth2 endpoints, so it is usually reachable from the internet through the same ingress, and an open
 * endpoint there would tell anyone the request rates, failed-authentication and throttle counts and pool pressure
 * of an identity provider; Prometheus sends a bearer token natively (`authorization.credentials_file`), so turning
 * it on costs one secret.
 */
@Global()
@Module({})
export class MetricsModule {
  /** The server: the endpoint and the scrape-time gauges when METRICS_TOKEN is set. */
  static forServer(config: AppConfig): DynamicModule {
    const enabled = config.metricsToken !== undefined;
    if (enabled) {
      return {
        module: MetricsModule,
        controllers: [MetricsController],
        providers: [
          {
            provide: Metrics,
            useFactory: () => {
              const metrics = new Metrics();
              // Node's and the process's own metrics (process_*, nodejs_*), under their usual names so that the
              // standard dashboards work; Grantry's own are all grantry_*.
              collectDefaultMetrics({ register: metrics.registry });
              return metrics;
            },
          },
          ScrapeGauges,
        ],
        exports: [Metrics],
      };
    }
    return MetricsModule.counting();
  }

  /** Metrics counted but never served (the CLI; the server without METRICS_TOKEN). */
  static counting(): DynamicModule {
    return { module: MetricsModule, providers: [Metrics], exports: [Metrics] };
  }
}
