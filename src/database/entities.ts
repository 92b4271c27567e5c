import { AuditEventEntity } from '../audit/audit-event.entity';
import { ApiTokenEntity } from '../identity/api-token.entity';
import { GroupEntity } from '../identity/group.entity';
import { InstallEntity } from '../identity/install.entity';
import { RoleEntity } from '../identity/role.entity';
import { UserEntity } from '../identity/user.entity';
import { SigningKeyEntity } from '../keys/signing-key.entity';
import { AccessTokenEntity } from '../oauth2/access-tokens/access-token.entity';
import { AuthorizationCodeEntity } from '../oauth2/authorization-codes/authorization-code.entity';
import { RefreshTokenEntity } from '../oauth2/refresh-tokens/refresh-token.entity';
import { ApplicationEntity } from '../providers/application.entity';
import { ApplicationGroupEntity } from '../providers/application-group.entity';
import { OAuth2ProviderEntity } from '../providers/oauth2-provider.entity';
import { UserConsentEntity } from '../providers/user-consent.entity';
import { SessionEntity } from '../sessions/session.entity';
import { CodeRedemptionEntity } from '../oauth2/issuance/store/code-redemption.entity';
import { DeviceTokenEntity } from '../oauth2/issuance/store/device-token.entity';

/** The explicit entity list (no globs): what the schema check compares with the migrations. */
export const ENTITIES = [
  InstallEntity,
  UserEntity,
  GroupEntity,
  RoleEntity,
  ApiTokenEntity,
  SigningKeyEntity,
  OAuth2ProviderEntity,
  ApplicationEntity,
  AccessTokenEntity,
  RefreshTokenEntity,
  AuthorizationCodeEntity,
  AuditEventEntity,
  SessionEntity,
  CodeRedemptionEntity,
  DeviceTokenEntity,
  ApplicationGroupEntity,
  UserConsentEntity,
];
