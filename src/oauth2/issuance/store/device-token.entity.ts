import { Column, Entity, Index, JoinColumn, ManyToOne, PrimaryGeneratedColumn } from 'typeorm';
import { UserEntity } from '../../../identity/user.entity';
import { OAuth2ProviderEntity } from '../../../providers/oauth2-provider.entity';

/**
 * An RFC 8628 device authorization (authentik's DeviceToken). The device code is kept as its SHA-256 only; the user
 * code (what a person types on /device) as is. `user_id` is null until someone approves it.
 */
@Entity({ name: 'oauth2_device_tokens' })
@Index('oauth2_device_tokens_expires_idx', ['expires'])
export class DeviceTokenEntity {
  @PrimaryGeneratedColumn({ type: 'integer', primaryKeyConstraintName: 'oauth2_device_tokens_pkey' })
  id!: number;

  @Column({ name: 'provider_id', type: 'integer' })
  providerId!: number;

  @ManyToOne(() => OAuth2ProviderEntity, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'provider_id', foreignKeyConstraintName: 'oauth2_device_tokens_provider_id_fkey' })
  provider?: OAuth2ProviderEntity;

  @Column({ name: 'user_id', type: 'integer', nullable: true })
  userId!: number | null;

  @ManyToOne(() => UserEntity, { onDelete: 'CASCADE', nullable: true })
  @JoinColumn({ name: 'user_id', foreignKeyConstraintName: 'oauth2_device_tokens_user_id_fkey' })
  user?: UserEntity | null;

  @Index('oauth2_device_tokens_device_code_hash_key', { unique: true })
  @Column({ name: 'device_code_hash', type: 'bytea' })
  deviceCodeHash!: Buffer;

  @Index('oauth2_device_tokens_user_code_key', { unique: true })
  @Column({ name: 'user_code', type: 'varchar', length: 16 })
  userCode!: string;

  @Column({ type: 'text', default: '' })
  scope!: string;

  @Column({ type: 'timestamptz' })
  expires!: Date;

  @Column({ name: 'session_id', type: 'varchar', length: 255, nullable: true })
  sessionId!: string | null;

  @Column({ name: 'auth_time', type: 'timestamptz', nullable: true })
  authTime!: Date | null;

  @Column({ name: 'family_id', type: 'uuid', nullable: true })
  familyId!: string | null;

  @Column({ type: 'timestamptz', default: () => 'now()' })
  created!: Date;
}
