import fs from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { createTestApp, request, type TestApp } from './support/app';

/**
 * The served OpenAPI document against (1) the committed copy in openapi/schema.yml, so a change to the API shows up
 * in review, and (2) authentik's own schema (a verbatim excerpt in test/fixtures), so authentik's generated clients
 * keep working. Regenerate the committed copy with `npm run openapi:update`.
 */
const COMMITTED = path.resolve(__dirname, '..', 'openapi', 'schema.yml');
/** authentik's schema excerpts: the token inventory, and the management API (issue 13). */
const REFERENCES = ['authentik-oauth2-tokens.openapi.yml', 'authentik-management.openapi.yml'];

/** Deliberate differences from the reference, each explained in the README. */
const OMITTED_PROPERTIES: Record<string, string[]> = {};

type Json = Record<string, unknown>;
type Doc = {
  paths: Record<string, Record<string, Json>>;
  components: { schemas: Record<string, Json>; parameters?: Record<string, Json>; securitySchemes: Json };
};

function resolveParameter(doc: Doc, parameter: Json): Json {
  const ref = parameter.$ref;
  if (typeof ref !== 'string') return parameter;
  return doc.components.parameters?.[ref.split('/').pop() ?? ''] ?? {};
}

/** A property's type as clients see it: a $ref (possibly via allOf), or type/format/items. */
function typeOf(schema: Json | undefined): unknown {
  if (!schema) return undefined;
  if (typeof schema.$ref === 'string') return { ref: schema.$ref.split('/').pop() };
  const allOf = schema.allOf as Json[] | undefined;
  if (allOf?.length === 1) return typeOf(allOf[0]);
  return {
    type: schema.type,
    format: schema.format,
    items: schema.items ? typeOf(schema.items as Json) : undefined,
    nullable: schema.nullable === true,
  };
}

function responseSchema(response: Json | undefined, doc: Doc): unknown {
  if (!response) return undefined;
  if (typeof response.$ref === 'string') {
    const name = response.$ref.split('/').pop() ?? '';
    return responseSchema(
      (doc.components as unknown as { responses: Record<string, Json> }).responses[name],
      doc,
    );
  }
  const content = response.content as Record<string, { schema: Json }> | undefined;
  return typeOf(content?.['application/json']?.schema);
}

describe('OpenAPI document', () => {
  let t: TestApp;
  let served: Doc;
  let servedYaml: string;

  beforeAll(async () => {
    t = await createTestApp();
    servedYaml = (await request(t.app, 'GET', '/api/v3/schema/')).text;
    served = parse(servedYaml) as Doc;
    if (process.env.UPDATE_OPENAPI !== undefined && process.env.CI !== undefined && process.env.CI !== '') {
      // Under CI the drift test would compare the served document with itself.
      throw new Error('UPDATE_OPENAPI is refused under CI: it would turn the drift test into a no-op');
    }
    if (process.env.UPDATE_OPENAPI === '1') fs.writeFileSync(COMMITTED, servedYaml);
  });
  afterAll(() => t.close());

  it('matches the committed openapi/schema.yml (run "npm run openapi:update" after changing the API)', () => {
    expect(servedYaml).toBe(fs.readFileSync(COMMITTED, 'utf8'));
  });

  it("declares authentik's bearer security scheme", () => {
    expect(served.components.securitySchemes).toEqual({ authentik: { type: 'http', scheme: 'bearer' } });
  });

  describe.each(REFERENCES)('against %s', (file) => {
    const reference = parse(fs.readFileSync(path.resolve(__dirname, 'fixtures', file), 'utf8')) as Doc;
    const operations = Object.entries(reference.paths).flatMap(([route, item]) =>
      Object.entries(item).map(([method, operation]) => ({ route, method, operation })),
    );

    it.each(operations.map((o) => [`${o.method.toUpperCase()} ${o.route}`, o] as const))(
      '%s: same operation id, parameters and responses',
      (_name, o) => {
        const ours = served.paths[o.route]?.[o.method];
        expect(ours).toBeDefined();
        expect(ours?.operationId).toBe(o.operation.operationId);
        expect(ours?.security).toEqual(o.operation.security);
        const refParams = ((o.operation.parameters as Json[] | undefined) ?? []).map((p) =>
          resolveParameter(reference, p),
        );
        const allOurParams = ((ours?.parameters as Json[] | undefined) ?? []).map((p) =>
          resolveParameter(served, p),
        );
        // Grantry's own parameters (issue 14's filters) are extensions: optional, named so in their description,
        // and not among authentik's. Everything else must be exactly authentik's list.
        const isExtension = (p: Json): boolean =>
          typeof p.description === 'string' && p.description.startsWith('Grantry extension');
        const extensions = allOurParams.filter(isExtension);
        expect(
          extensions.filter(
            (p) => p.required === true || refParams.some((r) => r.name === p.name && r.in === p.in),
          ),
        ).toEqual([]);
        const ourParams = allOurParams.filter((p) => !isExtension(p));
        expect(ourParams.map((p) => [p.name, p.in, (p.schema as Json).type, p.required === true])).toEqual(
          refParams.map((p) => [p.name, p.in, (p.schema as Json).type, p.required === true]),
        );
        const refResponses = o.operation.responses as Record<string, Json>;
        const ourResponses = ours?.responses as Record<string, Json>;
        expect(Object.keys(ourResponses).sort()).toEqual(Object.keys(refResponses).sort());
        for (const [status, response] of Object.entries(refResponses)) {
          expect([status, responseSchema(ourResponses[status], served)]).toEqual([
            status,
            responseSchema(response, reference),
          ]);
        }
      },
    );

    const schemas = Object.entries(reference.components.schemas);

    it.each(schemas.map(([name, schema]) => [name, schema] as const))(
      'component %s: every property with the same type',
      (name, schema) => {
        const ours = served.components.schemas[name];
        expect(ours).toBeDefined();
        if (schema.enum) {
          expect(ours?.enum).toEqual(schema.enum);
          return;
        }
        const omitted = OMITTED_PROPERTIES[name] ?? [];
        const refProps = (schema.properties ?? {}) as Record<string, Json>;
        const ourProps = (ours?.properties ?? {}) as Record<string, Json>;
        for (const [property, definition] of Object.entries(refProps)) {
          if (omitted.includes(property)) {
            expect(ourProps[property]).toBeUndefined();
            continue;
          }
          expect([property, typeOf(ourProps[property])]).toEqual([property, typeOf(definition)]);
        }
        const required = ((schema.required ?? []) as string[]).filter(
          (property) => !omitted.includes(property),
        );
        expect(((ours?.required ?? []) as string[]).filter((p) => required.includes(p)).sort()).toEqual(
          [...required].sort(),
        );
      },
    );
  });
});
