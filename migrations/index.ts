import type { MigrationInterface } from 'typeorm';
import { Initial1763800000000 } from './1763800000000-Initial';
import { AuditEvents1763900000000 } from './1763900000000-AuditEvents';
import { GrantCounts1764000000000 } from './1764000000000-GrantCounts';
import { UserSearch1764100000000 } from './1764100000000-UserSearch';
import { Documents1764200000000 } from './1764200000000-Documents';
import { OwnerIndex1764300000000 } from './1764300000000-OwnerIndex';
import { AuthFailures1764400000000 } from './1764400000000-AuthFailures';
import { SigningKeys1764520000000 } from './1764520000000-SigningKeys';
import { Sessions1764600000000 } from './1764600000000-Sessions';
import { Issuance1764650000000 } from './1764650000000-Issuance';
import { ConsentAndAccess1764700000000 } from './1764700000000-ConsentAndAccess';
import { DeviceThrottle1764750000000 } from './1764750000000-DeviceThrottle';
import { Events1764800000000 } from './1764800000000-Events';
import { ApplicationMeta1764830000000 } from './1764830000000-ApplicationMeta';
import { TokensEvents1764840000000 } from './1764840000000-TokensEvents';
import { ManagementBench1764850000000 } from './1764850000000-ManagementBench';
import { GroupMemberOrder1764855000000 } from './1764855000000-GroupMemberOrder';
import { GrantFilters1764861000000 } from './1764861000000-GrantFilters';
import { GrantFacetCounts1764870000000 } from './1764870000000-GrantFacetCounts';
import { GrantRevokedAt1764871000000 } from './1764871000000-GrantRevokedAt';
import { GrantFacetDeltas1764880000000 } from './1764880000000-GrantFacetDeltas';
import { GrantDeltas1764890000000 } from './1764890000000-GrantDeltas';
import { GrantFoldMarks1764900000000 } from './1764900000000-GrantFoldMarks';

/** Every migration, in order. An explicit list, so the build and the schema check see exactly these. */
export const MIGRATIONS: (new () => MigrationInterface)[] = [
  Initial1763800000000,
  AuditEvents1763900000000,
  GrantCounts1764000000000,
  UserSearch1764100000000,
  Documents1764200000000,
  OwnerIndex1764300000000,
  AuthFailures1764400000000,
  SigningKeys1764520000000,
  Sessions1764600000000,
  Issuance1764650000000,
  ConsentAndAccess1764700000000,
  DeviceThrottle1764750000000,
  Events1764800000000,
  ApplicationMeta1764830000000,
  TokensEvents1764840000000,
  ManagementBench1764850000000,
  GroupMemberOrder1764855000000,
  GrantFilters1764861000000,
  GrantFacetCounts1764870000000,
  GrantRevokedAt1764871000000,
  GrantFacetDeltas1764880000000,
  GrantDeltas1764890000000,
  GrantFoldMarks1764900000000,
];
