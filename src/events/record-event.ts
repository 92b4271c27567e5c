import type { EntityManager } from 'typeorm';
import { type Caller, CLI_ACTOR, SYSTEM_ACTOR } from '../common/auth/caller';

/** authentik's EventActions (the schema's enum, in its order). `custom_` is a prefix for custom events. */
export const EVENT_ACTIONS = [
  'login',
  'login_failed',
  'logout',
  'user_write',
  'suspicious_request',
  'password_set',
  'secret_view',
  'secret_rotate',
  'invitation_used',
  'authorize_application',
  'source_linked',
  'impersonation_started',
  'impersonation_ended',
  'flow_execution',
  'policy_execution',
  'policy_exception',
  'property_mapping_exception',
  'system_task_execution',
  'system_task_exception',
  'system_exception',
  'configuration_error',
  'configuration_warning',
  'model_created',
  'model_updated',
  'model_deleted',
  'email_sent',
  'update_available',
  'export_ready',
  'review_initiated',
  'review_overdue',
  'review_attested',
  'review_completed',
  'custom_',
] as const;
export type EventAction = (typeof EVENT_ACTIONS)[number];

/** How authentik's events name a model instance: `{app, model_name, pk, name}` (UUID pks as dash-less hex). */
export interface ModelRef {
  app: string;
  model_name: string;
  pk: string | number;
  name: string;
}

export function modelRef(app: string, modelName: string, pk: string | number, name: string): ModelRef {
  return { app, model_name: modelName, pk: typeof pk === 'string' ? pk.replaceAll('-', '') : pk, name };
}

/**
 * What a deletion took with it, for an event's context: one `{model, count}` per related model, named as authentik
 * names models (`app_label.modelname`), in the order given. Listed rather than keyed by model: recordEvent masks a
 * value whose key looks like a secret (`access_tokens` matches TOKEN), which would hide the counts.
 */
export type DeletedCounts = { model: string; count: number }[];

export function deletedCounts(counts: [model: string, count: number][]): DeletedCounts {
  return counts.map(([model, count]) => ({ model, count }));
}

export interface EventInput {
  action: EventAction;
  /** The Django app authentik would name: `authentik.events` (audit of model changes, the default), `authentik.core`. */
  app?: string;
  /** The object the event is about, as `context.model`. */
  model?: ModelRef;
  /** More context (counts, the secret viewed...). Keys that look like secrets are masked, as authentik does. */
  context?: Record<string, unknown>;
  /** For the inventory's own queries: the user and provider the object belongs to. */
  objectUserId?: number | null;
  objectProviderId?: number | null;
}

const SECRET_KEY = /API|AUTH|TOKEN|KEY|SECRET|PASS|SIGNATURE/i;
const MASK = '********************';

/** authentik's cleanse_dict: a value under a key that looks like a secret is masked, unless it is a dict itself. */
export function cleanse(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(cleanse);
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [key, inner] of Object.entries(value as Record<string, unknown>)) {
    const isDict = inner !== null && typeof inner === 'object' && !Array.isArray(inner);
    out[key] = SECRET_KEY.test(key) && !isDict ? MASK : cleanse(inner);
  }
  return out;
}

/**
 * Records one event in `audit_events` (served as authentik's Event by /api/v3/events/events/), within the caller's
 * transaction, so the event exists exactly when the change does. The actor is the API caller (with the request's
 * path, method, arguments, user agent, request id and client address) or the CLI. Answers the row's id (bigint, as
 * text), for a writer that keeps one event up to date across several transactions (bulk_revoke).
 */
export async function recordEvent(
  manager: EntityManager,
  caller: Caller,
  input: EventInput,
): Promise<string> {
  const context: Record<string, unknown> = { ...(cleanse(input.context ?? {}) as Record<string, unknown>) };
  if (input.model) context.model = input.model;
  if (caller.kind === 'api') {
    const r = caller.request;
    context.http_request = {
      path: r.path,
      method: r.method,
      args: cleanse(r.args),
      user_agent: r.userAgent,
      request_id: r.requestId,
    };
  }
  const pk = input.model?.pk;
  const objectPk =
    typeof pk === 'number' && Number.isSafeInteger(pk) && Math.abs(pk) <= 2 ** 31 - 1 ? pk : null;
  const actor =
    caller.kind === 'api'
      ? { id: caller.principal.userId, username: caller.principal.username, email: caller.principal.email }
      : { id: null, username: caller.kind === 'cli' ? CLI_ACTOR : SYSTEM_ACTOR, email: '' };
  const clientIp =
    caller.kind === 'api' && caller.request.clientIp !== 'unknown' ? caller.request.clientIp : null;
  const rows = await manager.query<{ id: string }[]>(
    `INSERT INTO audit_events (action, app, actor_user_id, actor_username, actor_email, model, object_pk,
                               object_user_id, object_provider_id, request_id, client_ip, context)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id`,
    [
      input.action,
      input.app ?? 'authentik.events',
      actor.id,
      actor.username.slice(0, 150),
      actor.email.slice(0, 254),
      input.model?.model_name ?? null,
      objectPk,
      input.objectUserId ?? null,
      input.objectProviderId ?? null,
      caller.kind === 'api' ? caller.request.requestId : null,
      clientIp,
      JSON.stringify(context),
    ],
  );
  const id = rows[0]?.id;
  if (id === undefined) throw new Error('audit event insert returned nothing');
  return id;
}
