import { Column, Entity, Index, JoinColumn, ManyToOne, PrimaryGeneratedColumn } from 'typeorm';
import { UserEntity } from '../identity/user.entity';
import { ApplicationEntity } from './application.entity';

/**
 * authentik's UserConsent: what a user allowed an application, one row per user and application. `permissions` are
 * the consented scopes, space-joined, sorted and unique (so equal sets are equal strings); `expires` null is a
 * permanent consent. Written and read by src/oauth2/issuance/consent/consent-store.ts.
 */
@Entity({ name: 'user_consents' })
@Index('user_consents_user_id_application_id_key', ['userId', 'applicationId'], { unique: true })
export class UserConsentEntity {
  @PrimaryGeneratedColumn({ type: 'integer', primaryKeyConstraintName: 'user_consents_pkey' })
  id!: number;

  @Column({ name: 'user_id', type: 'integer' })
  userId!: number;

  @ManyToOne(() => UserEntity, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'user_id', foreignKeyConstraintName: 'user_consents_user_id_fkey' })
  user?: UserEntity;

  @Index('user_consents_application_id_idx')
  @Column({ name: 'application_id', type: 'uuid' })
  applicationId!: string;

  @ManyToOne(() => ApplicationEntity, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'application_id', foreignKeyConstraintName: 'user_consents_application_id_fkey' })
  application?: ApplicationEntity;

  @Column({ type: 'text' })
  permissions!: string;

  @Column({ type: 'timestamptz', nullable: true })
  expires!: Date | null;

  @Column({ type: 'timestamptz', default: () => 'now()' })
  created!: Date;
}
