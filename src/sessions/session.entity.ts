import { Column, Entity, Index, JoinColumn, ManyToOne, PrimaryColumn } from 'typeorm';
import { UserEntity } from '../identity/user.entity';

/**
 * A browser session (authentik's AuthenticatedSession). The cookie holds a random token; the row holds only its
 * SHA-256, so a copy of the table signs nobody in. A session is ended (sign-out) rather than deleted, so the
 * access tokens issued in it can be found and deleted, and its history read.
 */
@Entity({ name: 'sessions' })
@Index('sessions_user_id_idx', ['userId'])
@Index('sessions_expires_idx', ['expires'])
export class SessionEntity {
  @PrimaryColumn({ type: 'uuid', primaryKeyConstraintName: 'sessions_pkey' })
  id!: string;

  @Index('sessions_token_hash_key', { unique: true })
  @Column({ name: 'token_hash', type: 'bytea' })
  tokenHash!: Buffer;

  @Column({ name: 'user_id', type: 'integer' })
  userId!: number;

  @ManyToOne(() => UserEntity, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'user_id', foreignKeyConstraintName: 'sessions_user_id_fkey' })
  user?: UserEntity;

  @Column({ type: 'timestamptz', default: () => 'now()' })
  created!: Date;

  @Column({ name: 'last_seen', type: 'timestamptz', default: () => 'now()' })
  lastSeen!: Date;

  @Column({ type: 'timestamptz' })
  expires!: Date;

  @Column({ type: 'varchar', length: 80 })
  ip!: string;

  @Column({ name: 'user_agent', type: 'varchar', length: 512, default: '' })
  userAgent!: string;

  @Column({ type: 'timestamptz', nullable: true })
  ended!: Date | null;
}
