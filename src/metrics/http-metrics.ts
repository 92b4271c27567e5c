import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Metrics } from './metrics';

/**
 * The onResponse hook (installed only when metrics are served): counts the request by method, route pattern and
 * status, and observes its latency. Fastify measured the time already (reply.elapsedTime); the labels are the
 * route's pattern, never the raw URL, so their number is bounded by the app's routes.
 */
export function httpMetricsHook(metrics: Metrics) {
  return function onResponse(request: FastifyRequest, reply: FastifyReply, done: () => void): void {
    metrics.httpRequest(request.method, request.routeOptions.url, reply.statusCode, reply.elapsedTime / 1000);
    done();
  };
}
