import { Column, Entity, Index, JoinColumn, ManyToOne, PrimaryGeneratedColumn } from 'typeorm';
import { UserEntity } from '../../identity/user.entity';
import { OAuth2ProviderEntity } from '../../providers/oauth2-provider.entity';
import { GrantColumns } from '../common/grant-columns';

@Entity({ name: 'oauth2_authorization_codes' })
@Index('oauth2_authorization_codes_provider_expires_id_idx', ['providerId', 'expires', 'id'])
@Index('oauth2_authorization_codes_user_provider_expires_id_idx', ['userId', 'providerId', 'expires', 'id'])
@Index('oauth2_authorization_codes_expires_id_idx', ['expires', 'id'])
// The incident filters (migration GrantFilters): revoked=true, is_expired, and scope containment (a GIN index on an
// expression, which TypeORM cannot describe).
@Index('oauth2_authorization_codes_revoked_idx', ['providerId', 'expires', 'id'], { where: '"revoked"' })
@Index('oauth2_authorization_codes_never_expiring_idx', ['expires', 'id'], { where: 'NOT "expiring"' })
@Index('oauth2_authorization_codes_scope_words_idx', { synchronize: false })
export class AuthorizationCodeEntity extends GrantColumns {
  @PrimaryGeneratedColumn({ type: 'integer', primaryKeyConstraintName: 'oauth2_authorization_codes_pkey' })
  id!: number;

  @Index('oauth2_authorization_codes_code_hash_key', { unique: true })
  @Column({ name: 'code_hash', type: 'bytea' })
  codeHash!: Buffer;

  @Column({ type: 'text', nullable: true })
  nonce!: string | null;

  @Column({ name: 'code_challenge', type: 'varchar', length: 255, nullable: true })
  codeChallenge!: string | null;

  @Column({ name: 'code_challenge_method', type: 'varchar', length: 8, nullable: true })
  codeChallengeMethod!: 'S256' | 'plain' | null;

  @ManyToOne(() => OAuth2ProviderEntity, { onDelete: 'CASCADE' })
  @JoinColumn({
    name: 'provider_id',
    foreignKeyConstraintName: 'oauth2_authorization_codes_provider_id_fkey',
  })
  provider?: OAuth2ProviderEntity;

  @ManyToOne(() => UserEntity, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'user_id', foreignKeyConstraintName: 'oauth2_authorization_codes_user_id_fkey' })
  user?: UserEntity;
}
