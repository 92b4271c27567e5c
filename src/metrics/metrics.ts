import { Injectable } from '@nestjs/common';
import { Counter, Histogram, Registry } from 'prom-client';
import type {
  EntityManager,
  EntitySubscriberInterface,
  QueryRunner,
  TransactionCommitEvent,
  TransactionRollbackEvent,
} from 'typeorm';
import type { GrantKind } from '../oauth2/grants/grant-kind';

/** The `type` label of the grant metrics: the three grant types of the inventory. */
export type GrantType = 'access_token' | 'refresh_token' | 'authorization_code';
export const GRANT_TYPES: readonly GrantType[] = ['access_token', 'refresh_token', 'authorization_code'];

const GRANT_TYPE_OF_TABLE: Record<GrantKind['table'], GrantType> = {
  oauth2_access_tokens: 'access_token',
  oauth2_refresh_tokens: 'refresh_token',
  oauth2_authorization_codes: 'authorization_code',
};

/** The metrics' `type` of one of the inventory's grant kinds. */
export function grantTypeOf(kind: Pick<GrantKind, 'table'>): GrantType {
  return GRANT_TYPE_OF_TABLE[kind.table];
}

/**
 * Why grants were revoked (the `reason` label): each is one code path, so the set is fixed and an incident's cause
 * shows on a dashboard. Revoked means gone from use: deleted (authentik deletes) or marked `revoked`.
 */
export type RevocationReason =
  /** DELETE /api/v3/oauth2/<type>/<id>/ */
  | 'api_delete'
  /** POST /api/v3/oauth2/<type>/bulk_revoke/ */
  | 'bulk_revoke'
  /** RFC 7009, POST /application/o/revoke/ */
  | 'revoke_endpoint'
  /** A replayed authorization code or a reused refresh token revoked its whole family. */
  | 'family_revoked'
  /** A refresh token rotated at refresh (the old one is marked revoked). */
  | 'rotation'
  /** A user deactivated or deleted: their grants are deleted. */
  | 'user_cut_off'
  /** Sign-out (POST /logout/) or an application's end-session endpoint: the session's access tokens. */
  | 'sign_out';
export const REVOCATION_REASONS: readonly RevocationReason[] = [
  'api_delete',
  'bulk_revoke',
  'revoke_endpoint',
  'family_revoked',
  'rotation',
  'user_cut_off',
  'sign_out',
];

/** Which credentials failed (`mechanism`) and how (`reason`). */
export type AuthMechanism = 'api_bearer' | 'oauth2_client' | 'login' | 'metrics';
export type AuthFailureReason =
  /** No credentials (API: no `Authorization`, or another scheme). */
  | 'missing'
  /** `Authorization: Bearer` with an empty key, or several headers. */
  | 'malformed'
  /** Credentials presented that did not authenticate (unknown or expired key, wrong secret or password). */
  | 'invalid'
  /** An OAuth2 client_id no provider has. */
  | 'unknown_client';
const AUTH_FAILURES: readonly [AuthMechanism, AuthFailureReason][] = [
  ['api_bearer', 'missing'],
  ['api_bearer', 'malformed'],
  ['api_bearer', 'invalid'],
  ['oauth2_client', 'invalid'],
  ['oauth2_client', 'unknown_client'],
  ['login', 'invalid'],
  ['metrics', 'missing'],
  ['metrics', 'invalid'],
];

/** The route label of requests no route matched (404s for any path): one value, so a scan adds no series. */
export const UNMATCHED_ROUTE = 'unmatched';

/**
 * Seconds. The API answers most requests within a few milliseconds; DB_STATEMENT_TIMEOUT_MS (5 s by default) bounds
 * the slow end, and 10 s covers a timeout plus a connection wait.
 */
export const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/**
 * Grantry's own metrics (all named `grantry_*`), on a registry of their own (not prom-client's global one, so that
 * several apps in one process, as in the tests, do not collide). The counters are this process's: each instance
 * counts what it served, as Prometheus expects; sum them over instances in queries.
 *
 * Other code reports through the methods below. Counts that happen inside a transaction pass its EntityManager and
 * are counted only when it commits (a rolled-back issuance or revocation counts nothing).
 */
@Injectable()
export class Metrics {
  readonly registry = new Registry();

  private readonly httpRequests = new Counter({
    name: 'grantry_http_requests_total',
    help: 'HTTP requests answered, by method, route pattern (never the raw path; "unmatched" for no route) and status.',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [this.registry],
  });

  private readonly httpDuration = new Histogram({
    name: 'grantry_http_request_duration_seconds',
    help: 'Time from receiving a request to sending its answer, by method and route pattern.',
    labelNames: ['method', 'route'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });

  private readonly issued = new Counter({
    name: 'grantry_grants_issued_total',
    help: 'Grants issued (token endpoint, authorization endpoint, device flow), by type.',
    labelNames: ['type'] as const,
    registers: [this.registry],
  });

  private readonly revoked = new Counter({
    name: 'grantry_grants_revoked_total',
    help: 'Grants revoked (deleted or marked revoked), by type and reason.',
    labelNames: ['type', 'reason'] as const,
    registers: [this.registry],
  });

  private readonly cleaned = new Counter({
    name: 'grantry_grants_cleaned_total',
    help: 'Expired grants deleted by the expiry cleanup, by type.',
    labelNames: ['type'] as const,
    registers: [this.registry],
  });

  private readonly authFailures = new Counter({
    name: 'grantry_auth_failures_total',
    help: 'Failed authentications, by mechanism (api_bearer, oauth2_client, login, metrics) and reason.',
    labelNames: ['mechanism', 'reason'] as const,
    registers: [this.registry],
  });

  private readonly throttles = new Counter({
    name: 'grantry_throttled_total',
    help: 'Requests refused by a throttle (answered 429), by route pattern.',
    labelNames: ['route'] as const,
    registers: [this.registry],
  });

  /** Fastify route URL -> its label (no trailing slash), computed once per route. */
  private readonly routeLabels = new Map<string, string>();

  /** Counts waiting for their transaction to commit. */
  private readonly pending = new WeakMap<QueryRunner, (() => void)[]>();
  private readonly subscriber: EntitySubscriberInterface = {
    afterTransactionCommit: (event: TransactionCommitEvent) => this.settle(event.queryRunner, true),
    afterTransactionRollback: (event: TransactionRollbackEvent) => this.settle(event.queryRunner, false),
  };

  constructor() {
    // Every series that may be asked about exists from the start, at 0: a rate() over a series that appears only
    // with its first increment misses that increment.
    for (const type of GRANT_TYPES) {
      this.issued.inc({ type }, 0);
      this.cleaned.inc({ type }, 0);
      for (const reason of REVOCATION_REASONS) this.revoked.inc({ type, reason }, 0);
    }
    for (const [mechanism, reason] of AUTH_FAILURES) this.authFailures.inc({ mechanism, reason }, 0);
  }

  /** `n` grants of `type` issued (within `manager`'s transaction, if given). */
  grantsIssued(type: GrantType, n = 1, manager?: EntityManager): void {
    if (n > 0) this.afterCommit(manager, () => this.issued.inc({ type }, n));
  }

  /** `n` grants of `type` revoked for `reason` (within `manager`'s transaction, if given). */
  grantsRevoked(type: GrantType, n: number, reason: RevocationReason, manager?: EntityManager): void {
    if (n > 0) this.afterCommit(manager, () => this.revoked.inc({ type, reason }, n));
  }

  /** `n` expired grants of `type` deleted by the cleanup (within `manager`'s transaction, if given). */
  grantsCleaned(type: GrantType, n: number, manager?: EntityManager): void {
    if (n > 0) this.afterCommit(manager, () => this.cleaned.inc({ type }, n));
  }

  authFailure(mechanism: AuthMechanism, reason: AuthFailureReason): void {
    this.authFailures.inc({ mechanism, reason });
  }

  /**
   * One answered request (the onResponse hook, see http-metrics.ts). `routeUrl` is Fastify's route pattern, or
   * undefined when no route matched.
   */
  httpRequest(method: string, routeUrl: string | undefined, status: number, seconds: number): void {
    const route = this.routeLabel(routeUrl);
    const statusLabel = String(status);
    this.httpRequests.inc({ method, route, status: statusLabel });
    this.httpDuration.observe({ method, route }, seconds);
    if (status === 429) this.throttles.inc({ route });
  }

  /** The exposition text, and its content type. */
  async scrape(): Promise<{ contentType: string; text: string }> {
    return { contentType: this.registry.contentType, text: await this.registry.metrics() };
  }

  private routeLabel(routeUrl: string | undefined): string {
    if (routeUrl === undefined || routeUrl === '') return UNMATCHED_ROUTE;
    let label = this.routeLabels.get(routeUrl);
    if (label === undefined) {
      // "/api/v3/oauth2/access_tokens/:id/" and "/api/v3/oauth2/access_tokens/:id" are one route (the router
      // ignores a trailing slash): one label. Route URLs are the app's own, so this map is bounded by its routes.
      label = routeUrl.length > 1 ? routeUrl.replace(/\/+$/, '') : routeUrl;
      this.routeLabels.set(routeUrl, label);
    }
    return label;
  }

  /** Runs `count` once `manager`'s transaction commits (at once outside a transaction); never if it rolls back. */
  private afterCommit(manager: EntityManager | undefined, count: () => void): void {
    const runner = manager?.queryRunner;
    if (runner === undefined || !runner.isTransactionActive) {
      count();
      return;
    }
    const subscribers = runner.dataSource.subscribers;
    if (!subscribers.includes(this.subscriber)) subscribers.push(this.subscriber);
    const waiting = this.pending.get(runner);
    if (waiting) waiting.push(count);
    else this.pending.set(runner, [count]);
  }

  private settle(runner: QueryRunner, committed: boolean): void {
    // A savepoint's release or rollback (a nested transaction) leaves the transaction open: wait for its end. (So a
    // count made inside a savepoint that rolls back still counts if the outer transaction commits; nothing here
    // nests transactions.)
    if (runner.isTransactionActive) return;
    const waiting = this.pending.get(runner);
    if (waiting === undefined) return;
    this.pending.delete(runner);
    if (committed) for (const count of waiting) count();
  }
}
