import type { FastifyReply } from 'fastify';
import { PAGE_CSP } from './pages';

/**
 * Sends a server-rendered page under the pages' CSP (or the one given). Caching needs nothing here: every answer is
 * `Cache-Control: no-store` unless a route chose otherwise (responseHeadersHook).
 */
export function sendPage(reply: FastifyReply, status: number, body: string, csp = PAGE_CSP): void {
  void reply.code(status).header('content-security-policy', csp).type('text/html; charset=utf-8').send(body);
}
