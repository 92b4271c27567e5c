import {
  Column,
  Entity,
  Index,
  JoinColumn,
  JoinTable,
  ManyToMany,
  ManyToOne,
  PrimaryGeneratedColumn,
} from 'typeorm';
import { RoleEntity } from './role.entity';
import type { UserEntity } from './user.entity';

@Entity({ name: 'groups' })
export class GroupEntity {
  @PrimaryGeneratedColumn('uuid', { primaryKeyConstraintName: 'groups_pkey' })
  id!: string;

  @Index('groups_name_key', { unique: true })
  @Column({ type: 'varchar', length: 80 })
  name!: string;

  /** Members of this group, and of every group below it, are superusers. */
  @Column({ name: 'is_superuser', type: 'boolean', default: false })
  isSuperuser!: boolean;

  @Column({ type: 'jsonb', default: () => `'{}'` })
  attributes!: Record<string, unknown>;

  @Index('groups_parent_id_idx')
  @Column({ name: 'parent_id', type: 'uuid', nullable: true })
  parentId!: string | null;

  @ManyToOne(() => GroupEntity, { onDelete: 'SET NULL', nullable: true })
  @JoinColumn({ name: 'parent_id', foreignKeyConstraintName: 'groups_parent_id_fkey' })
  parent?: GroupEntity | null;

  @ManyToMany('UserEntity', (user: UserEntity) => user.groups)
  users?: UserEntity[];

  @ManyToMany(() => RoleEntity)
  @JoinTable({
    name: 'group_roles',
    joinColumn: {
      name: 'group_id',
      referencedColumnName: 'id',
      foreignKeyConstraintName: 'group_roles_group_id_fkey',
    },
    inverseJoinColumn: {
      name: 'role_id',
      referencedColumnName: 'id',
      foreignKeyConstraintName: 'group_roles_role_id_fkey',
    },
  })
  roles?: RoleEntity[];
}
