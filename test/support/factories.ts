import { randomUUID } from 'node:crypto';
import type { DataSource, EntityManager } from 'typeorm';
import { generateClientId, generateSecret, sha256 } from '../../src/common/crypto/secrets';
import {
  addUserToGroup,
  assignRole,
  createApiToken,
  createGroup,
  createRole,
  createUser,
  type CreateUserInput,
} from '../../src/identity/accounts';
import type { TokenIntent } from '../../src/identity/api-token.entity';
import type { GroupEntity } from '../../src/identity/group.entity';
import type { RoleEntity } from '../../src/identity/role.entity';
import type { UserEntity } from '../../src/identity/user.entity';
import { AccessTokenEntity } from '../../src/oauth2/access-tokens/access-token.entity';
import { OAuth2ProviderEntity } from '../../src/providers/oauth2-provider.entity';

let counter = 0;
/** Unique per test run, so suites can share one database without colliding. */
export function unique(prefix: string): string {
  counter += 1;
  return `${prefix}-${process.pid}-${Date.now().toString(36)}-${counter}`;
}

export class Factories {
  constructor(private readonly dataSource: DataSource) {}

  private get manager(): EntityManager {
    return this.dataSource.manager;
  }

  user(input: Partial<CreateUserInput> = {}): Promise<UserEntity> {
    return createUser(this.manager, { username: unique('user'), ...input });
  }

  group(input: { name?: string; isSuperuser?: boolean; parent?: string } = {}): Promise<GroupEntity> {
    return createGroup(this.manager, { name: unique('group').slice(0, 80), ...input });
  }

  async member(user: UserEntity, group: GroupEntity): Promise<void> {
    await addUserToGroup(this.manager, user.username, group.name);
  }

  async role(
    permissions: string[],
    holder?: { user: UserEntity } | { group: GroupEntity },
  ): Promise<RoleEntity> {
    const role = await createRole(this.manager, { name: unique('role'), permissions });
    if (holder && 'user' in holder) await assignRole(this.manager, role.name, { user: holder.user.username });
    if (holder && 'group' in holder) await assignRole(this.manager, role.name, { group: holder.group.name });
    return role;
  }

  async apiKey(
    user: UserEntity,
    options: { intent?: TokenIntent; expires?: Date | null } = {},
  ): Promise<string> {
    const { key } = await createApiToken(this.manager, { userId: user.id, ...options });
    return key;
  }

  /** A user in a new superuser group, and an API key of theirs: the admin most suites act as. */
  async superuser(input: Partial<CreateUserInput> = {}): Promise<{ user: UserEntity; key: string }> {
    const admins = await this.group({ isSuperuser: true });
    const user = await this.user(input);
    await this.member(user, admins);
    return { user, key: await this.apiKey(user) };
  }

  provider(name = unique('provider')): Promise<OAuth2ProviderEntity> {
    return this.manager.save(
      this.manager.create(OAuth2ProviderEntity, {
        name,
        clientId: generateClientId(),
        clientSecretHash: sha256(generateSecret()),
        // As `provider create` and the seed make them: the reference schema has no null for these two.
        authorizationFlow: randomUUID(),
        invalidationFlow: randomUUID(),
      }),
    );
  }

  /** An OAuth2 access token row; returns its plaintext value. */
  async accessToken(
    user: UserEntity,
    options: {
      scope?: string;
      expires?: Date | null;
      revoked?: boolean;
      provider?: OAuth2ProviderEntity;
    } = {},
  ): Promise<string> {
    const provider = options.provider ?? (await this.provider());
    const value = generateSecret();
    const expires = options.expires === undefined ? new Date(Date.now() + 3600_000) : options.expires;
    await this.manager.save(
      this.manager.create(AccessTokenEntity, {
        providerId: provider.id,
        userId: user.id,
        tokenHash: sha256(value),
        scope: options.scope ?? 'openid',
        expires,
        expiring: expires !== null,
        revoked: options.revoked ?? false,
        idToken: {},
      }),
    );
    return value;
  }
}

export type GrantType = 'access' | 'refresh' | 'code';

export interface GrantOptions {
  scope?: string;
  expires?: Date | null;
  revoked?: boolean;
  idToken?: Record<string, unknown>;
}

export const GRANT_TABLES: Record<GrantType, { table: string; hash: string }> = {
  access: { table: 'oauth2_access_tokens', hash: 'token_hash' },
  refresh: { table: 'oauth2_refresh_tokens', hash: 'token_hash' },
  code: { table: 'oauth2_authorization_codes', hash: 'code_hash' },
};

/** Direct inserts for the grant tables and applications, with full control over every column. */
export class GrantFactories extends Factories {
  constructor(private readonly ds: DataSource) {
    super(ds);
  }

  async application(
    input: { slug?: string; name?: string; providerId?: number | null } = {},
  ): Promise<{ id: string; slug: string; name: string }> {
    const slug = input.slug ?? unique('app').slice(0, 50);
    const name = input.name ?? `App ${slug}`;
    const [row] = await this.ds.query<{ id: string }[]>(
      'INSERT INTO applications (slug, name, provider_id) VALUES ($1, $2, $3) RETURNING id',
      [slug, name, input.providerId ?? null],
    );
    return { id: row?.id ?? '', slug, name };
  }

  /** Inserts a grant and returns its pk and plaintext value. */
  async grant(
    type: GrantType,
    userId: number,
    providerId: number,
    options: GrantOptions = {},
  ): Promise<{ pk: number; value: string }> {
    const { table, hash } = GRANT_TABLES[type];
    const value = generateSecret();
    const expires = options.expires === undefined ? new Date(Date.now() + 3600_000) : options.expires;
    const columns = ['provider_id', 'user_id', hash, 'scope', 'expires', 'expiring', 'revoked'];
    const values: unknown[] = [
      providerId,
      userId,
      sha256(value),
      options.scope ?? 'openid',
      expires,
      expires !== null,
      options.revoked ?? false,
    ];
    if (type !== 'code') {
      columns.push('id_token');
      values.push(JSON.stringify(options.idToken ?? {}));
    }
    const [row] = await this.ds.query<{ id: number }[]>(
      `INSERT INTO ${table} (${columns.join(', ')}) VALUES (${columns.map((_, i) => `$${i + 1}`).join(', ')}) RETURNING id`,
      values,
    );
    return { pk: row?.id ?? 0, value };
  }
}
