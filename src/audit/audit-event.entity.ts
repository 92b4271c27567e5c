import { Column, Entity, Index, PrimaryGeneratedColumn } from 'typeorm';

/**
 * Who did what to which grant. Never holds a secret: only the first 8 hex digits of the grant's hash, enough to
 * correlate with other records. No foreign keys, so history outlives the users and rows it mentions.
 */
@Entity({ name: 'audit_events' })
@Index('audit_events_created_idx', ['created'])
export class AuditEventEntity {
  @PrimaryGeneratedColumn({ type: 'bigint', primaryKeyConstraintName: 'audit_events_pkey' })
  id!: string;

  @Column({ type: 'timestamptz', default: () => 'now()' })
  created!: Date;

  @Column({ type: 'varchar', length: 32 })
  action!: string;

  @Column({ name: 'actor_user_id', type: 'integer', nullable: true })
  actorUserId!: number | null;

  @Column({ name: 'actor_username', type: 'varchar', length: 150 })
  actorUsername!: string;

  @Column({ type: 'varchar', length: 64 })
  model!: string;

  @Column({ name: 'object_pk', type: 'integer' })
  objectPk!: number;

  @Column({ name: 'object_user_id', type: 'integer', nullable: true })
  objectUserId!: number | null;

  @Column({ name: 'object_provider_id', type: 'integer', nullable: true })
  objectProviderId!: number | null;

  @Column({ name: 'secret_hash_prefix', type: 'varchar', length: 8, nullable: true })
  secretHashPrefix!: string | null;

  @Column({ name: 'request_id', type: 'varchar', length: 64, nullable: true })
  requestId!: string | null;
}
