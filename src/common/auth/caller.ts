import type { RequestMeta } from '../http/request-meta';
import { hasPermission, type Principal } from './principal';

/**
 * Who runs a management command: an API caller (a principal, and the request, for the event log) or the CLI (an
 * operator with a shell on the server and the database's credentials, who may do everything). The CLI and the API
 * dispatch the same commands on the bus, so both validate alike and both leave events.
 */
export type Caller = { kind: 'api'; principal: Principal; request: RequestMeta } | { kind: 'cli' };

export const CLI_CALLER: Caller = { kind: 'cli' };

/** How the event log names the CLI: no Grantry user, an operator at the database. */
export const CLI_ACTOR = 'grantry-cli';

export function apiCaller(principal: Principal, request: RequestMeta): Caller {
  return { kind: 'api', principal, request };
}

/** Whether the caller holds a permission globally (`app_label.codename`); superusers and the CLI hold every one. */
export function callerCan(caller: Caller, permission: string): boolean {
  return caller.kind === 'cli' || hasPermission(caller.principal, permission);
}

export function callerIsSuperuser(caller: Caller): boolean {
  return caller.kind === 'cli' || caller.principal.isSuperuser;
}

/** The calling user's id, or null for the CLI. */
export function callerUserId(caller: Caller): number | null {
  return caller.kind === 'api' ? caller.principal.userId : null;
}
