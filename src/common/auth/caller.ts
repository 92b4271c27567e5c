import type { RequestMeta } from '../http/request-meta';
import { hasPermission, type Principal } from './principal';

/**
 * Who runs a management command: an API caller (a principal, and the request, for the event log) or the CLI (an
 * operator with a shell on the server and the database's credentials, who may do everything). The CLI and the API
 * dispatch the same commands on the bus, so both validate alike and both leave events.
 */
export type Caller =
  { kind: 'api'; principal: Principal; request: RequestMeta } | { kind: 'cli' } | { kind: 'system' };

export const CLI_CALLER: Caller = { kind: 'cli' };

/** The server itself, for what its background jobs do (the expired-grant cleanup): nobody asked for it. */
export const SYSTEM_CALLER: Caller = { kind: 'system' };

/** How the event log names the CLI: no Grantry user, an operator at the database. */
export const CLI_ACTOR = 'grantry-cli';

/** How the event log names the server's own jobs. */
export const SYSTEM_ACTOR = 'grantry-system';

export function apiCaller(principal: Principal, request: RequestMeta): Caller {
  return { kind: 'api', principal, request };
}

/**
 * Whether the caller holds a permission globally (`app_label.codename`); superusers, the CLI and the server's own
 * jobs hold every one.
 */
export function callerCan(caller: Caller, permission: string): boolean {
  return caller.kind !== 'api' || hasPermission(caller.principal, permission);
}

export function callerIsSuperuser(caller: Caller): boolean {
  return caller.kind !== 'api' || caller.principal.isSuperuser;
}

/** The calling user's id, or null for the CLI and the server's jobs. */
export function callerUserId(caller: Caller): number | null {
  return caller.kind === 'api' ? caller.principal.userId : null;
}

/**
 * The caller as a Principal, for code that decides what a caller may see and touch from one (the grant store's
 * visibility, bulk_revoke's own-grants rule): the API caller's own; for the CLI and the server's jobs, which may do
 * everything, a superuser that is no user (pk 0 names no row; `via` is only shown by whoami, which the CLI has not).
 */
export function callerPrincipal(caller: Caller): Principal {
  if (caller.kind === 'api') return caller.principal;
  return {
    userId: 0,
    username: caller.kind === 'cli' ? CLI_ACTOR : SYSTEM_ACTOR,
    email: '',
    isSuperuser: true,
    permissions: new Set(),
    via: 'api_token',
  };
}
