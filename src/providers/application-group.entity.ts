import { Entity, Index, JoinColumn, ManyToOne, PrimaryColumn } from 'typeorm';
import { GroupEntity } from '../identity/group.entity';
import { ApplicationEntity } from './application.entity';

/**
 * A group bound to an application (Grantry's stand-in for authentik's policy bindings): an application with no
 * bindings is open to every active user; otherwise only members of a bound group, or of a group below one, may use
 * it (src/oauth2/issuance/access/application-access.ts).
 */
@Entity({ name: 'application_groups' })
export class ApplicationGroupEntity {
  @PrimaryColumn({
    name: 'application_id',
    type: 'uuid',
    primaryKeyConstraintName: 'application_groups_pkey',
  })
  applicationId!: string;

  @Index('application_groups_group_id_idx')
  @PrimaryColumn({ name: 'group_id', type: 'uuid', primaryKeyConstraintName: 'application_groups_pkey' })
  groupId!: string;

  @ManyToOne(() => ApplicationEntity, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'application_id', foreignKeyConstraintName: 'application_groups_application_id_fkey' })
  application?: ApplicationEntity;

  @ManyToOne(() => GroupEntity, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'group_id', foreignKeyConstraintName: 'application_groups_group_id_fkey' })
  group?: GroupEntity;
}
