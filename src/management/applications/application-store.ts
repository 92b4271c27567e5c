import type { EntityManager } from 'typeorm';
import { In } from 'typeorm';
import { type ProviderRow, toProviderDto } from '../../common/serializers/provider';
import { ApplicationEntity } from '../../providers/application.entity';

export const APPLICATION_APP = 'authentik_core';
export const APPLICATION_MODEL = 'application';

export const APPLICATION_PERMISSION = {
  view: 'authentik_core.view_application',
  add: 'authentik_core.add_application',
  change: 'authentik_core.change_application',
  delete: 'authentik_core.delete_application',
} as const;

/** What `%(key)s` in a launch URL may name: the user's own fields (authentik formats with `user.__dict__`). */
export interface LaunchUser {
  id: number;
  uuid: string;
  username: string;
  name: string;
  email: string;
  path: string;
}

/**
 * Python's `url % user.__dict__`: `%(key)s` replaced by the user's field, `%%` by `%`. Anything else (an unknown key,
 * another conversion) makes Python raise, and authentik then serves the URL unformatted; so does this.
 */
export function formatLaunchUrl(url: string, user: LaunchUser | null): string {
  if (user === null || !url.includes('%')) return url;
  const values: Record<string, string> = {
    id: String(user.id),
    uuid: user.uuid,
    username: user.username,
    name: user.name,
    email: user.email,
    path: user.path,
  };
  let failed = false;
  const out = url.replace(
    /%(?:\(([^)]*)\)s|(%)|)/g,
    (_match, key: string | undefined, percent: string | undefined) => {
      if (percent !== undefined) return '%';
      if (key !== undefined && Object.hasOwn(values, key)) return values[key] ?? '';
      failed = true;
      return '';
    },
  );
  return failed ? url : out;
}

/**
 * authentik's OAuth2Provider.launch_url: the first authorization redirect URI with its path removed (Python's
 * `urlparse(url)._replace(path="")`, which keeps the query and fragment).
 */
export function providerLaunchUrl(redirectUris: readonly { url: string }[]): string | null {
  const first = redirectUris[0]?.url;
  if (first === undefined) return null;
  const match = /^(?:([^:/?#]+):)?(?:\/\/([^/?#]*))?([^?#]*)(\?[^#]*)?(#.*)?$/.exec(first);
  if (!match) return null;
  const [, scheme, netloc, , query, fragment] = match;
  return `${scheme ? `${scheme}:` : ''}${netloc !== undefined ? `//${netloc}` : ''}${query ?? ''}${fragment ?? ''}`;
}

/** authentik's base Provider shape (an application's provider_obj): the inventory's document, cut down. */
function baseProvider(row: ProviderRow): Record<string, unknown> {
  const dto = toProviderDto(row);
  return {
    pk: dto.pk,
    name: dto.name,
    authentication_flow: dto.authentication_flow,
    authorization_flow: dto.authorization_flow,
    invalidation_flow: dto.invalidation_flow,
    property_mappings: dto.property_mappings,
    component: dto.component,
    assigned_application_slug: dto.assigned_application_slug,
    assigned_application_name: dto.assigned_application_name,
    assigned_backchannel_application_slug: dto.assigned_backchannel_application_slug,
    assigned_backchannel_application_name: dto.assigned_backchannel_application_name,
    verbose_name: dto.verbose_name,
    verbose_name_plural: dto.verbose_name_plural,
    meta_model_name: dto.meta_model_name,
  };
}

export type ApplicationBody = Record<string, unknown>;

/**
 * Management responses of applications, in the order given: the application's fields, its provider (from the token
 * inventory's provider documents, the one serialization of a provider) and its backchannel providers, and the launch
 * URL formatted for `user`.
 */
export async function applicationBodies(
  manager: EntityManager,
  ids: readonly string[],
  user: LaunchUser | null,
): Promise<ApplicationBody[]> {
  if (ids.length === 0) return [];
  const apps = await manager.findBy(ApplicationEntity, { id: In([...ids]) });
  const byId = new Map(apps.map((app) => [app.id, app]));
  const backchannel = await manager.query<{ id: number; application_id: string }[]>(
    `SELECT id, backchannel_application_id AS application_id FROM oauth2_providers
      WHERE backchannel_application_id = ANY($1::uuid[]) ORDER BY id`,
    [ids],
  );
  const providerIds = [
    ...new Set([
      ...apps.flatMap((app) => (app.providerId === null ? [] : [app.providerId])),
      ...backchannel.map((row) => row.id),
    ]),
  ];
  // The provider documents table has no entity: one read by key.
  const docs = await manager.query<{ provider_id: number; doc: ProviderRow }[]>(
    'SELECT provider_id, doc FROM provider_documents WHERE provider_id = ANY($1::int[])',
    [providerIds],
  );
  const providers = new Map(docs.map((row) => [row.provider_id, row.doc]));
  return ids.flatMap((id) => {
    const app = byId.get(id);
    if (!app) return [];
    const provider = app.providerId === null ? undefined : providers.get(app.providerId);
    const channel = backchannel.filter((row) => row.application_id === app.id);
    const launch =
      app.metaLaunchUrl !== ''
        ? app.metaLaunchUrl
        : provider
          ? providerLaunchUrl(provider.redirect_uris.filter((uri) => uri.redirect_uri_type !== 'logout'))
          : null;
    return [
      {
        pk: app.id,
        name: app.name,
        slug: app.slug,
        provider: app.providerId,
        provider_obj: provider ? baseProvider(provider) : null,
        backchannel_providers: channel.map((row) => row.id),
        backchannel_providers_obj: channel.flatMap((row) => {
          const doc = providers.get(row.id);
          return doc ? [baseProvider(doc)] : [];
        }),
        launch_url: launch === null ? null : formatLaunchUrl(launch, user),
        open_in_new_tab: app.openInNewTab,
        meta_launch_url: app.metaLaunchUrl,
        meta_icon: app.metaIcon,
        meta_icon_url: app.metaIcon === '' ? null : app.metaIcon,
        meta_icon_themed_urls: null,
        meta_description: app.metaDescription,
        meta_publisher: app.metaPublisher,
        policy_engine_mode: app.policyEngineMode,
        group: app.group,
      },
    ];
  });
}

export async function launchUser(manager: EntityManager, userId: number | null): Promise<LaunchUser | null> {
  if (userId === null) return null;
  const [row] = await manager.query<LaunchUser[]>(
    'SELECT id, uuid, username, name, email, path FROM users WHERE id = $1',
    [userId],
  );
  return row ?? null;
}
