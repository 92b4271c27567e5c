import type { DataSource, EntityManager } from 'typeorm';
import { sha256 } from '../common/crypto/secrets';
import {
  addUserToGroup,
  countSuperusers,
  createApiToken,
  createGroup,
  createUser,
} from '../identity/accounts';
import { ApiTokenEntity } from '../identity/api-token.entity';
import { GroupEntity } from '../identity/group.entity';
import { UserEntity } from '../identity/user.entity';

export const ADMIN_USERNAME = 'akadmin';
export const ADMIN_GROUP = 'authentik Admins';
export const BOOTSTRAP_TOKEN_IDENTIFIER = 'authentik-bootstrap-token';
/** Where a server whose stdout is not a terminal leaves the first-start key, in DATA_DIR (mode 0600). */
export const INITIAL_ADMIN_KEY_FILE = 'initial-admin-key';
const BOOTSTRAP_LOCK = 0x626f6f74; // "boot"

export type BootstrapResult =
  | { action: 'bootstrap-token'; userId: number }
  | { action: 'created-admin'; userId: number; key: string }
  | { action: 'none' };

/** The superuser group, `authentik Admins`: created, or made superuser again, when it is not. */
export async function ensureSuperuserGroup(manager: EntityManager): Promise<void> {
  const group = await manager.findOneBy(GroupEntity, { name: ADMIN_GROUP });
  if (!group) await createGroup(manager, { name: ADMIN_GROUP, isSuperuser: true });
  else if (!group.isSuperuser) await manager.update(GroupEntity, { id: group.id }, { isSuperuser: true });
}

async function ensureAdmin(manager: EntityManager): Promise<UserEntity> {
  await ensureSuperuserGroup(manager);
  const user =
    (await manager.findOneBy(UserEntity, { username: ADMIN_USERNAME })) ??
    (await createUser(manager, { username: ADMIN_USERNAME, name: 'authentik Default Admin' }));
  await addUserToGroup(manager, user.username, ADMIN_GROUP);
  return user;
}

/**
 * Makes sure someone can use the API, as authentik's bootstrap does:
 * - with BOOTSTRAP_TOKEN, `akadmin` is a superuser holding an API token with that key (idempotent; a changed
 *   BOOTSTRAP_TOKEN replaces the old key);
 * - without it, when no superuser exists at all, creates `akadmin` with a fresh key and returns it so the caller can
 *   show it once.
 * Runs under a transaction-scoped advisory lock so instances starting together do not both create an admin.
 */
export async function bootstrap(
  dataSource: DataSource,
  bootstrapToken: string | undefined,
): Promise<BootstrapResult> {
  return dataSource.transaction(async (manager) => {
    await manager.query('SELECT pg_advisory_xact_lock($1)', [BOOTSTRAP_LOCK]);
    if (bootstrapToken !== undefined) {
      const admin = await ensureAdmin(manager);
      const existing = await manager.findOneBy(ApiTokenEntity, { identifier: BOOTSTRAP_TOKEN_IDENTIFIER });
      if (existing) {
        await manager.update(
          ApiTokenEntity,
          { id: existing.id },
          {
            keyHash: sha256(bootstrapToken),
            userId: admin.id,
            intent: 'api',
            expiring: false,
            expires: null,
          },
        );
      } else {
        await createApiToken(manager, {
          userId: admin.id,
          identifier: BOOTSTRAP_TOKEN_IDENTIFIER,
          key: bootstrapToken,
          description: 'Bootstrap token (BOOTSTRAP_TOKEN)',
        });
      }
      return { action: 'bootstrap-token', userId: admin.id };
    }
    if ((await countSuperusers(manager)) > 0) return { action: 'none' };
    const admin = await ensureAdmin(manager);
    const { key } = await createApiToken(manager, {
      userId: admin.id,
      description: 'Created at first start; shown once',
    });
    return { action: 'created-admin', userId: admin.id, key };
  });
}
