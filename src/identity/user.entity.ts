import {
  Check,
  Column,
  Entity,
  Generated,
  Index,
  JoinTable,
  ManyToMany,
  PrimaryGeneratedColumn,
} from 'typeorm';
import { GroupEntity } from './group.entity';
import { RoleEntity } from './role.entity';

export const USER_TYPES = ['internal', 'external', 'service_account', 'internal_service_account'] as const;
export type UserType = (typeof USER_TYPES)[number];

@Entity({ name: 'users' })
// Trigram indexes for search (migration UserSearch); TypeORM cannot express their operator class.
@Index('users_username_trgm_idx', { synchronize: false })
@Index('users_name_trgm_idx', { synchronize: false })
@Index('users_email_trgm_idx', { synchronize: false })
// Migration ManagementBench: the search's four columns joined by a space, in one trigram index.
@Index('users_search_trgm_idx', { synchronize: false })
// lower(email), for sign-in by e-mail address (migration Sessions).
@Index('users_email_lower_idx', { synchronize: false })
@Check(
  'users_type_check',
  `"type" IN ('internal', 'external', 'service_account', 'internal_service_account')`,
)
export class UserEntity {
  @PrimaryGeneratedColumn({ type: 'integer', primaryKeyConstraintName: 'users_pkey' })
  id!: number;

  @Index('users_uuid_key', { unique: true })
  @Column({ type: 'uuid' })
  @Generated('uuid')
  uuid!: string;

  @Index('users_username_key', { unique: true })
  @Column({ type: 'varchar', length: 150 })
  username!: string;

  @Column({ type: 'text', default: '' })
  name!: string;

  @Column({ type: 'varchar', length: 254, default: '' })
  email!: string;

  @Column({ name: 'is_active', type: 'boolean', default: true })
  isActive!: boolean;

  @Column({ name: 'last_login', type: 'timestamptz', nullable: true })
  lastLogin!: Date | null;

  @Column({ name: 'date_joined', type: 'timestamptz', default: () => 'now()' })
  dateJoined!: Date;

  @Column({ name: 'password_change_date', type: 'timestamptz', default: () => 'now()' })
  passwordChangeDate!: Date;

  @Column({ name: 'last_updated', type: 'timestamptz', default: () => 'now()' })
  lastUpdated!: Date;

  @Column({ type: 'text', default: 'users' })
  path!: string;

  @Column({ type: 'varchar', length: 32, default: 'internal' })
  type!: UserType;

  @Column({ type: 'jsonb', default: () => `'{}'` })
  attributes!: Record<string, unknown>;

  /** A scrypt hash (src/identity/password.ts), never the password; null: the user cannot sign in with one. */
  @Column({ type: 'text', nullable: true, select: false })
  password!: string | null;

  @ManyToMany(() => GroupEntity, (group) => group.users)
  @JoinTable({
    name: 'user_groups',
    joinColumn: {
      name: 'user_id',
      referencedColumnName: 'id',
      foreignKeyConstraintName: 'user_groups_user_id_fkey',
    },
    inverseJoinColumn: {
      name: 'group_id',
      referencedColumnName: 'id',
      foreignKeyConstraintName: 'user_groups_group_id_fkey',
    },
  })
  groups?: GroupEntity[];

  @ManyToMany(() => RoleEntity)
  @JoinTable({
    name: 'user_roles',
    joinColumn: {
      name: 'user_id',
      referencedColumnName: 'id',
      foreignKeyConstraintName: 'user_roles_user_id_fkey',
    },
    inverseJoinColumn: {
      name: 'role_id',
      referencedColumnName: 'id',
      foreignKeyConstraintName: 'user_roles_role_id_fkey',
    },
  })
  roles?: RoleEntity[];
}
