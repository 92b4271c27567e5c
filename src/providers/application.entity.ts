import { Column, Entity, Index, JoinColumn, ManyToOne, PrimaryGeneratedColumn } from 'typeorm';
import { OAuth2ProviderEntity } from './oauth2-provider.entity';

@Entity({ name: 'applications' })
export class ApplicationEntity {
  @PrimaryGeneratedColumn('uuid', { primaryKeyConstraintName: 'applications_pkey' })
  id!: string;

  @Index('applications_slug_key', { unique: true })
  @Column({ type: 'varchar', length: 50 })
  slug!: string;

  @Column({ type: 'text' })
  name!: string;

  /** A provider serves at most one application (authentik's one-to-one). */
  @Index('applications_provider_id_key', { unique: true })
  @Column({ name: 'provider_id', type: 'integer', nullable: true })
  providerId!: number | null;

  // One-to-one in authentik; modelled as many-to-one plus the unique index above, so the constraint has our name.
  @ManyToOne(() => OAuth2ProviderEntity, { onDelete: 'SET NULL', nullable: true })
  @JoinColumn({ name: 'provider_id', foreignKeyConstraintName: 'applications_provider_id_fkey' })
  provider?: OAuth2ProviderEntity | null;

  @Column({ type: 'timestamptz', default: () => 'now()' })
  created!: Date;
}
