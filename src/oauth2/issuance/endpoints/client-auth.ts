import type { EntityManager } from 'typeorm';
import type { Metrics } from '../../../metrics/metrics';
import { recordClientAuthFailure } from '../core/audit';
import { type Client, type ClientCredentials, Clients, secretMatches } from '../core/clients';

/**
 * Who presented client credentials: `authenticated`, a confidential client with its secret; `public`, a public
 * client (identified by its id alone: it has no secret); `failed`, a confidential client with a wrong or missing
 * secret, which is audited (`client_auth_failed`, as the token endpoint does); `unknown`, no such client or no
 * credentials at all.
 */
export type ClientAuth =
  { kind: 'authenticated' | 'public' | 'failed'; client: Client } | { kind: 'unknown'; client?: undefined };

/** authentik's provider_from_request + authenticate_provider, with the secret compared by its hash. */
export async function authenticateClient(
  clients: Clients,
  manager: EntityManager,
  credentials: ClientCredentials,
  requestId: string,
  metrics: Metrics,
): Promise<ClientAuth> {
  const client = await clients.find(credentials.clientId);
  if (client === undefined) {
    if (credentials.clientId !== '') metrics.authFailure('oauth2_client', 'unknown_client');
    return { kind: 'unknown' };
  }
  if (client.provider.clientType === 'public') return { kind: 'public', client };
  if (!secretMatches(client.provider.clientSecretHash, credentials.clientSecret)) {
    metrics.authFailure('oauth2_client', 'invalid');
    await recordClientAuthFailure(manager, client.provider, requestId);
    return { kind: 'failed', client };
  }
  return { kind: 'authenticated', client };
}
