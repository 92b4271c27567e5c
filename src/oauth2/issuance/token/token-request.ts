import type { FastifyRequest } from 'fastify';
import type { AppConfig } from '../../../config/config';
import { clientAddress } from '../../../common/http/client-address';
import { type ClientCredentials, readClientCredentials } from '../core/clients';
import { baseUrl, formField } from '../core/http';

export const GRANT_AUTHORIZATION_CODE = 'authorization_code';
export const GRANT_REFRESH_TOKEN = 'refresh_token';
export const GRANT_CLIENT_CREDENTIALS = 'client_credentials';
export const GRANT_PASSWORD = 'password';
export const GRANT_DEVICE_CODE = 'urn:ietf:params:oauth:grant-type:device_code';
export const JWT_BEARER_ASSERTION = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

/** A token request's parameters (authentik's TokenParams), read from the form body. */
export interface TokenRequest {
  grantType: string;
  credentials: ClientCredentials;
  code: string;
  redirectUri: string;
  codeVerifier: string | undefined;
  refreshToken: string;
  scope: string | undefined;
  username: string;
  password: string;
  deviceCode: string;
  clientAssertionType: string;
  /** PUBLIC_URL or the request's scheme and host: the base of `iss`. */
  base: string;
  requestId: string;
  address: string;
}

export function readTokenRequest(
  request: FastifyRequest,
  config: Pick<AppConfig, 'publicUrl'>,
): TokenRequest {
  const field = (name: string): string => formField(request, name) ?? '';
  return {
    grantType: field('grant_type'),
    credentials: readClientCredentials(request),
    code: field('code'),
    redirectUri: field('redirect_uri'),
    codeVerifier: formField(request, 'code_verifier'),
    refreshToken: field('refresh_token'),
    scope: formField(request, 'scope'),
    username: field('username'),
    password: field('password'),
    deviceCode: field('device_code'),
    clientAssertionType: field('client_assertion_type'),
    base: baseUrl(request, config),
    requestId: request.id,
    address: clientAddress(request),
  };
}
