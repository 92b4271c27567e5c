import { Check, Column, Entity, PrimaryColumn } from 'typeorm';

/** One row, created by the first migration: the install id that salts users' `uid`. */
@Entity({ name: 'install' })
@Check('install_singleton_check', `"id" = 1`)
export class InstallEntity {
  @PrimaryColumn({ type: 'smallint', primaryKeyConstraintName: 'install_pkey' })
  id!: number;

  @Column({ name: 'install_id', type: 'uuid' })
  installId!: string;

  @Column({ type: 'timestamptz', default: () => 'now()' })
  created!: Date;
}
