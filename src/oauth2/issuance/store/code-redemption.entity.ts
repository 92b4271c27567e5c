import { Column, Entity, Index, JoinColumn, ManyToOne, PrimaryColumn } from 'typeorm';
import { OAuth2ProviderEntity } from '../../../providers/oauth2-provider.entity';

/**
 * A redeemed authorization code, remembered by its hash until `forget_after`, so that a replay is recognised and the
 * tokens of its family revoked (authentik deletes a redeemed code and forgets it).
 */
@Entity({ name: 'oauth2_code_redemptions' })
@Index('oauth2_code_redemptions_forget_after_idx', ['forgetAfter'])
export class CodeRedemptionEntity {
  @PrimaryColumn({
    name: 'code_hash',
    type: 'bytea',
    primaryKeyConstraintName: 'oauth2_code_redemptions_pkey',
  })
  codeHash!: Buffer;

  @Column({ name: 'family_id', type: 'uuid' })
  familyId!: string;

  @Column({ name: 'provider_id', type: 'integer' })
  providerId!: number;

  @ManyToOne(() => OAuth2ProviderEntity, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'provider_id', foreignKeyConstraintName: 'oauth2_code_redemptions_provider_id_fkey' })
  provider?: OAuth2ProviderEntity;

  @Column({ name: 'forget_after', type: 'timestamptz' })
  forgetAfter!: Date;
}
