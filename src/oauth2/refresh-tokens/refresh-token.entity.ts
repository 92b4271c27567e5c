import { Column, Entity, Index, JoinColumn, ManyToOne, PrimaryGeneratedColumn } from 'typeorm';
import { UserEntity } from '../../identity/user.entity';
import { OAuth2ProviderEntity } from '../../providers/oauth2-provider.entity';
import { GrantColumns } from '../common/grant-columns';

@Entity({ name: 'oauth2_refresh_tokens' })
@Index('oauth2_refresh_tokens_provider_expires_id_idx', ['providerId', 'expires', 'id'])
@Index('oauth2_refresh_tokens_user_provider_expires_id_idx', ['userId', 'providerId', 'expires', 'id'])
@Index('oauth2_refresh_tokens_expires_id_idx', ['expires', 'id'])
// The incident filters (migration GrantFilters): revoked=true, is_expired, and scope containment (a GIN index on an
// expression, which TypeORM cannot describe).
@Index('oauth2_refresh_tokens_revoked_idx', ['providerId', 'expires', 'id'], { where: '"revoked"' })
@Index('oauth2_refresh_tokens_never_expiring_idx', ['expires', 'id'], { where: 'NOT "expiring"' })
@Index('oauth2_refresh_tokens_scope_words_idx', { synchronize: false })
@Index('oauth2_refresh_tokens_family_id_idx', ['familyId'])
export class RefreshTokenEntity extends GrantColumns {
  @PrimaryGeneratedColumn({ type: 'integer', primaryKeyConstraintName: 'oauth2_refresh_tokens_pkey' })
  id!: number;

  @Index('oauth2_refresh_tokens_token_hash_key', { unique: true })
  @Column({ name: 'token_hash', type: 'bytea' })
  tokenHash!: Buffer;

  /** The ID token's claims, in the order they were issued. */
  @Column({ name: 'id_token', type: 'jsonb', default: () => `'{}'` })
  idToken!: Record<string, unknown>;

  @ManyToOne(() => OAuth2ProviderEntity, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'provider_id', foreignKeyConstraintName: 'oauth2_refresh_tokens_provider_id_fkey' })
  provider?: OAuth2ProviderEntity;

  @ManyToOne(() => UserEntity, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'user_id', foreignKeyConstraintName: 'oauth2_refresh_tokens_user_id_fkey' })
  user?: UserEntity;
}
