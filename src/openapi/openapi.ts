import type { INestApplication } from '@nestjs/common';
import { DocumentBuilder, type OpenAPIObject, SwaggerModule } from '@nestjs/swagger';

export const API_PREFIX = 'api/v3';

/**
 * authentik's document lists paths relative to `/api/v3` with a trailing slash (`/oauth2/access_tokens/`) and
 * declares the server as `/api/v3/`; generated clients depend on both, so Nest's paths are rewritten to match.
 */
export function buildOpenApiDocument(app: INestApplication): OpenAPIObject {
  const config = new DocumentBuilder()
    .setTitle('Grantry')
    .setDescription(
      "OAuth2 grant inventory and provider: authentik's /api/v3 token endpoints and its management API (users, " +
        'groups, roles and permissions, OAuth2 providers, applications, API tokens, events), wire-compatible. ' +
        'Authenticate with an API token or an OAuth2 access token with the goauthentik.io/api scope.',
    )
    .setVersion(process.env.npm_package_version ?? '0.1.0')
    .addServer('/api/v3/')
    .addSecurity('authentik', { type: 'http', scheme: 'bearer' })
    .addSecurityRequirements('authentik')
    .build();
  const document = SwaggerModule.createDocument(app, config);
  const paths: OpenAPIObject['paths'] = {};
  for (const [path, item] of Object.entries(document.paths)) {
    const relative = path.startsWith(`/${API_PREFIX}/`) ? path.slice(API_PREFIX.length + 1) : path;
    paths[relative.endsWith('/') ? relative : `${relative}/`] = item;
  }
  // authentik's free-form `autocomplete` object in list envelopes.
  const schemas = { ...document.components?.schemas, Autocomplete: { type: 'object' as const, additionalProperties: {} } };
  return { ...document, paths, components: { ...document.components, schemas } };
}

/** Holds the document built at start-up, for the schema endpoint. */
export class OpenApiDocumentHolder {
  document: OpenAPIObject | undefined;
}
