import { Column, Entity, Index, PrimaryGeneratedColumn } from 'typeorm';

@Entity({ name: 'roles' })
export class RoleEntity {
  @PrimaryGeneratedColumn('uuid', { primaryKeyConstraintName: 'roles_pkey' })
  id!: string;

  @Index('roles_name_key', { unique: true })
  @Column({ type: 'varchar', length: 150 })
  name!: string;

  /** Permission codenames, e.g. `authentik_providers_oauth2.view_accesstoken`. */
  @Column({ type: 'text', array: true, default: () => `'{}'` })
  permissions!: string[];
}
