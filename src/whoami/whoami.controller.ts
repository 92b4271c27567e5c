import { Controller, Get } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiProperty, ApiTags } from '@nestjs/swagger';
import { CurrentPrincipal } from '../common/auth/current-principal.decorator';
import type { Principal } from '../common/auth/principal';

class WhoAmI {
  @ApiProperty() pk!: number;
  @ApiProperty() username!: string;
  @ApiProperty() is_superuser!: boolean;
  @ApiProperty({ type: [String] }) permissions!: string[];
  @ApiProperty({ enum: ['api_token', 'oauth2_access_token'] }) authenticated_via!: string;
}

/** A Grantry extension (not in authentik): tells the caller who their key authenticates as. */
@ApiTags('grantry')
@Controller('grantry/whoami')
export class WhoAmIController {
  @Get()
  @ApiOperation({
    operationId: 'grantry_whoami_retrieve',
    summary: 'The user and permissions behind the presented key',
  })
  @ApiOkResponse({ type: WhoAmI })
  whoami(@CurrentPrincipal() principal: Principal): WhoAmI {
    return {
      pk: principal.userId,
      username: principal.username,
      is_superuser: principal.isSuperuser,
      permissions: [...principal.permissions].sort(),
      authenticated_via: principal.via,
    };
  }
}
