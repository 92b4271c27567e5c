/**
 * Every permission Grantry understands, named as authentik names them (Django's `Permission` rows of the apps whose
 * objects Grantry stores: reference §1.4). Roles store them as `app_label.codename`; GET /api/v3/rbac/permissions/
 * serves this list; role create and assign refuse anything not in it.
 *
 * The ids are positions in CATALOGUE (1-based). Django's ids are database sequence values that differ per install, so
 * clients only use them as opaque keys; Grantry's must merely stay stable: APPEND new models at the end, never
 * reorder or remove.
 */

export interface PermissionEntry {
  id: number;
  /** Django's name: "Can view User" for default permissions, the model's own text for custom ones. */
  name: string;
  codename: string;
  /** The content type's model (lowercase class name). */
  model: string;
  app_label: string;
  app_label_verbose: string;
  model_verbose: string;
}

interface ModelSpec {
  app: string;
  model: string;
  verbose: string;
  /** Django's default add/change/delete/view permissions (SystemPermission has none). */
  defaults: boolean;
  custom: readonly (readonly [string, string])[];
}

const APP_VERBOSE: Record<string, string> = {
  authentik_core: 'authentik Core',
  authentik_rbac: 'authentik RBAC',
  authentik_providers_oauth2: 'authentik Providers.OAuth2',
  authentik_events: 'authentik Events',
};

// Append only (see above). Custom permissions and their texts are those of the models' Meta in authentik.
const MODELS: readonly ModelSpec[] = [
  {
    app: 'authentik_core',
    model: 'user',
    verbose: 'User',
    defaults: true,
    custom: [
      ['reset_user_password', 'Reset Password'],
      ['impersonate', 'Can impersonate other users'],
      ['preview_user', 'Can preview user data sent to providers'],
      ['view_user_applications', 'View applications the user has access to'],
    ],
  },
  {
    app: 'authentik_core',
    model: 'group',
    verbose: 'Group',
    defaults: true,
    custom: [
      ['add_user_to_group', 'Add user to group'],
      ['remove_user_from_group', 'Remove user from group'],
      ['enable_group_superuser', 'Enable superuser status'],
      ['disable_group_superuser', 'Disable superuser status'],
    ],
  },
  { app: 'authentik_core', model: 'application', verbose: 'Application', defaults: true, custom: [] },
  {
    app: 'authentik_core',
    model: 'token',
    verbose: 'Token',
    defaults: true,
    custom: [
      ['view_token_key', "View token's key"],
      ['set_token_key', "Set a token's key"],
    ],
  },
  {
    app: 'authentik_rbac',
    model: 'role',
    verbose: 'Role',
    defaults: true,
    custom: [
      ['assign_role_permissions', 'Can assign permissions to users'],
      ['unassign_role_permissions', 'Can unassign permissions from users'],
    ],
  },
  {
    app: 'authentik_rbac',
    model: 'systempermission',
    verbose: 'System permission',
    defaults: false,
    custom: [
      ['view_system_info', 'Can view system info'],
      ['access_admin_interface', 'Can access admin interface'],
      ['view_system_settings', 'Can view system settings'],
      ['edit_system_settings', 'Can edit system settings'],
      ['view_media_files', 'Can view media files'],
      ['manage_media_files', 'Can manage media files'],
    ],
  },
  {
    app: 'authentik_providers_oauth2',
    model: 'oauth2provider',
    verbose: 'OAuth2/OpenID Provider',
    defaults: true,
    custom: [],
  },
  {
    app: 'authentik_providers_oauth2',
    model: 'accesstoken',
    verbose: 'OAuth2 Access Token',
    defaults: true,
    custom: [],
  },
  {
    app: 'authentik_providers_oauth2',
    model: 'refreshtoken',
    verbose: 'OAuth2 Refresh Token',
    defaults: true,
    custom: [],
  },
  {
    app: 'authentik_providers_oauth2',
    model: 'authorizationcode',
    verbose: 'Authorization Code',
    defaults: true,
    custom: [],
  },
  {
    app: 'authentik_providers_oauth2',
    model: 'devicetoken',
    verbose: 'Device Token',
    defaults: true,
    custom: [],
  },
  { app: 'authentik_events', model: 'event', verbose: 'Event', defaults: true, custom: [] },
];

function build(): PermissionEntry[] {
  const entries: PermissionEntry[] = [];
  for (const spec of MODELS) {
    const perms: (readonly [string, string])[] = spec.defaults
      ? (['add', 'change', 'delete', 'view'] as const).map(
          (action) => [`${action}_${spec.model}`, `Can ${action} ${spec.verbose}`] as const,
        )
      : [];
    perms.push(...spec.custom);
    for (const [codename, name] of perms) {
      entries.push({
        id: entries.length + 1,
        name,
        codename,
        model: spec.model,
        app_label: spec.app,
        app_label_verbose: APP_VERBOSE[spec.app] ?? spec.app,
        model_verbose: spec.verbose,
      });
    }
  }
  return entries;
}

export const CATALOGUE: readonly PermissionEntry[] = build();

const BY_FULL_NAME = new Map(CATALOGUE.map((entry) => [`${entry.app_label}.${entry.codename}`, entry]));

/** The entry for `app_label.codename`, or undefined when Grantry does not know it. */
export function findPermission(fullName: string): PermissionEntry | undefined {
  return BY_FULL_NAME.get(fullName);
}

export function fullName(entry: PermissionEntry): string {
  return `${entry.app_label}.${entry.codename}`;
}
