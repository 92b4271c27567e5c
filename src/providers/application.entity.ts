import { Check, Column, Entity, Index, JoinColumn, ManyToOne, PrimaryGeneratedColumn } from 'typeorm';
import { OAuth2ProviderEntity } from './oauth2-provider.entity';

export const POLICY_ENGINE_MODES = ['all', 'any'] as const;
export type PolicyEngineMode = (typeof POLICY_ENGINE_MODES)[number];

@Entity({ name: 'applications' })
@Check('applications_policy_engine_mode_check', `"policy_engine_mode" IN ('all', 'any')`)
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

  @Column({ name: 'open_in_new_tab', type: 'boolean', default: false })
  openInNewTab!: boolean;

  @Column({ name: 'meta_launch_url', type: 'text', default: '' })
  metaLaunchUrl!: string;

  @Column({ name: 'meta_icon', type: 'text', default: '' })
  metaIcon!: string;

  @Column({ name: 'meta_description', type: 'text', default: '' })
  metaDescription!: string;

  @Column({ name: 'meta_publisher', type: 'text', default: '' })
  metaPublisher!: string;

  /** authentik's policy engine mode; Grantry's group bindings pass when any bound group does, whatever the mode. */
  @Column({ name: 'policy_engine_mode', type: 'varchar', length: 3, default: 'any' })
  policyEngineMode!: PolicyEngineMode;

  @Column({ type: 'text', default: '' })
  group!: string;

  @Column({ type: 'timestamptz', default: () => 'now()' })
  created!: Date;
}
