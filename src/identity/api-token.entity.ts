import { Check, Column, Entity, Index, JoinColumn, ManyToOne, PrimaryGeneratedColumn } from 'typeorm';
import { UserEntity } from './user.entity';

export const TOKEN_INTENTS = ['api', 'app_password', 'recovery', 'verification'] as const;
export type TokenIntent = (typeof TOKEN_INTENTS)[number];

/** authentik's core Token: a key a user presents as `Authorization: Bearer <key>`. Only its SHA-256 is stored. */
@Entity({ name: 'api_tokens' })
@Check('api_tokens_key_copy_check', `("key_copy" IS NULL) = ("key_copy_until" IS NULL)`)
@Check('api_tokens_intent_check', `"intent" IN ('api', 'app_password', 'recovery', 'verification')`)
export class ApiTokenEntity {
  @PrimaryGeneratedColumn('uuid', { primaryKeyConstraintName: 'api_tokens_pkey' })
  id!: string;

  @Index('api_tokens_identifier_key', { unique: true })
  @Column({ type: 'varchar', length: 255 })
  identifier!: string;

  @Index('api_tokens_key_hash_key', { unique: true })
  @Column({ name: 'key_hash', type: 'bytea' })
  keyHash!: Buffer;

  @Column({ type: 'varchar', length: 16, default: 'api' })
  intent!: TokenIntent;

  @Index('api_tokens_user_id_idx')
  @Column({ name: 'user_id', type: 'integer' })
  userId!: number;

  @ManyToOne(() => UserEntity, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'user_id', foreignKeyConstraintName: 'api_tokens_user_id_fkey' })
  user?: UserEntity;

  @Column({ type: 'text', default: '' })
  description!: string;

  @Column({ type: 'timestamptz', nullable: true })
  expires!: Date | null;

  @Column({ type: 'boolean', default: true })
  expiring!: boolean;

  @Column({ type: 'timestamptz', default: () => 'now()' })
  created!: Date;

  /**
   * The key sealed under SECRET_KEY (purpose `token-view`), kept only until `view_key/` hands it out once or
   * `keyCopyUntil` passes (ten minutes after the key was set); never the plaintext.
   */
  @Column({ name: 'key_copy', type: 'bytea', nullable: true, select: false })
  keyCopy!: Buffer | null;

  @Index('api_tokens_key_copy_until_idx', { synchronize: false })
  @Column({ name: 'key_copy_until', type: 'timestamptz', nullable: true })
  keyCopyUntil!: Date | null;
}
