import { SetMetadata } from '@nestjs/common';

export const IS_PUBLIC = 'grantry:isPublic';

/** Marks a route as reachable without credentials. Every other route requires a bearer key. */
export const Public = (): MethodDecorator & ClassDecorator => SetMetadata(IS_PUBLIC, true);
