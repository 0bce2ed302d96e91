import { z } from 'zod';

import { errorBody } from './representations.ts';
import type { ApiRoute } from './route.ts';

type JsonSchema = Record<string, unknown>;

const schemaOf = (schema: z.ZodType, io: 'input' | 'output'): JsonSchema => {
  const json = z.toJSONSchema(schema, { io, unrepresentable: 'any' }) as JsonSchema;
  // The document declares its dialect once (OpenAPI 3.1 is JSON Schema 2020-12).
  delete json['$schema'];
  return json;
};

/** An upload (the import's CSV) is the file as it is; JSON bodies are described by their schemas. */
const bodySchemaOf = (route: ApiRoute, body: z.ZodType): JsonSchema =>
  (route.bodyType === undefined ? schemaOf(body, 'input') : { type: 'string', contentMediaType: route.bodyType, minLength: 1 });

/** Path and query parameters, one per property of the route's object schema. */
function parametersOf(schema: z.ZodType | undefined, location: 'path' | 'query') {
  if (!schema) return [];
  const json = schemaOf(schema, 'input') as { properties?: Record<string, JsonSchema>; required?: string[] };
  return Object.entries(json.properties ?? {}).map(([name, property]) => {
    const { description, ...rest } = property;
    return {
      name,
      in: location,
      required: location === 'path' || (json.required ?? []).includes(name),
      ...(typeof description === 'string' ? { description } : {}),
      schema: rest,
    };
  });
}

const errorResponse = (description: string) => ({ description, content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } });

/** The OpenAPI 3.1 document, generated from the routes' own zod schemas. */
export function buildOpenApiDocument(routes: readonly ApiRoute[], issuer: string): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of routes) {
    const success = route.status ?? (route.response ? 200 : 204);
    const produces = route.alsoProduces
      ? Object.fromEntries(route.alsoProduces.map((type) => [type, { schema: { type: 'string' } }]))
      : route.response ? { 'application/json': { schema: schemaOf(route.response, 'output') } } : undefined;
    (paths[route.path] ??= {})[route.method] = {
      summary: route.summary,
      tags: [route.tag],
      operationId: `${route.method}${route.path.replace(/\{(\w+)\}/g, 'By_$1').replace(/[^A-Za-z0-9]+(.)?/g, (_m, c?: string) => (c ? c.toUpperCase() : ''))}`,
      parameters: [
        ...parametersOf(route.params, 'path'),
        ...parametersOf(route.query, 'query'),
        ...(route.conditional ? [{ name: 'If-Match', in: 'header', required: false, description: 'the ETag you read; a stale one gets 412', schema: { type: 'string' } }] : []),
      ],
      ...(route.body ? { requestBody: { required: true, content: { [route.bodyType ?? 'application/json']: { schema: bodySchemaOf(route, route.body) } } } } : {}),
      responses: {
        [success]: { description: 'success', ...(produces ? { content: produces } : {}) },
        400: errorResponse('the input was not valid; the message says what was wrong'),
        401: errorResponse('no valid access token for this API'),
        403: errorResponse('outside your scope or beyond your role; the refusal is audited'),
        ...(route.params ? { 404: errorResponse('no such resource') } : {}),
        ...(route.method !== 'get' ? { 409: errorResponse('conflicts with the current state (a taken username, a closed unit, …)') } : {}),
        ...(route.conditional ? { 412: errorResponse('the resource changed since you read it (If-Match)') } : {}),
      },
    };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Mekong ID admin API',
      version: '1',
      description: 'Accounts, the org tree, groups, admin roles and the audit log. Every call needs a bearer access token issued by Mekong ID for this API, and sees only what the caller\'s roles reach.',
    },
    servers: [{ url: `${issuer}/api/v1` }],
    security: [{ bearer: [] }],
    paths,
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: `an access token for the resource ${issuer}/api/v1` } },
      schemas: { Error: schemaOf(errorBody, 'output') },
    },
  };
}
