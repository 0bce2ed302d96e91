import { beforeAll, describe, expect, it } from 'vitest';

import { adminApiRoutes } from '../../../src/http/api/index.ts';
import type { ApiRoute } from '../../../src/http/api/route.ts';
import { createLogger } from '../../../src/logger.ts';
import { apiClient, serviceToken, useProvinceServer, type ApiCall } from '../../support/admin-api.ts';
import { registerTestClient } from '../../support/server.ts';

interface Operation {
  operationId: string;
  summary: string;
  parameters: { name: string; in: string; required: boolean }[];
  requestBody?: { content: Record<string, { schema: JsonSchema }> };
  responses: Record<string, unknown>;
}
interface JsonSchema {
  type?: string;
  required?: string[];
  properties?: Record<string, JsonSchema>;
}
interface OpenApiDocument {
  openapi: string;
  servers: { url: string }[];
  paths: Record<string, Record<string, Operation>>;
  components: { securitySchemes: Record<string, { type: string; scheme: string }>; schemas: Record<string, JsonSchema> };
}

const world = useProvinceServer();
let document: OpenApiDocument;
let mounted: ApiRoute[];

beforeAll(async () => {
  const response = await fetch(`${world.server.issuer}/api/v1/openapi.json`);
  expect(response.status).toBe(200);
  document = (await response.json()) as OpenApiDocument;
  // The routes as the server builds them; only their declarations are read here.
  const deps = {
    db: world.server.database.db,
    issuer: world.server.issuer,
    oidc: world.server.oidc,
    logger: createLogger('silent'),
    backchannelLogout: () => Promise.resolve([]),
    masterKey: world.server.config.masterKey,
    governance: world.server.config.governance,
  };
  mounted = adminApiRoutes(deps);
});

const operationsOf = (doc: OpenApiDocument) =>
  Object.entries(doc.paths).flatMap(([path, methods]) => Object.keys(methods).map((method) => `${method.toUpperCase()} ${path}`));

describe('the OpenAPI document', () => {
  it('is served without a token, as OpenAPI 3.1.0 describing this server\'s API', async () => {
    const response = await fetch(`${world.server.issuer}/api/v1/openapi.json`);
    expect(response.headers.get('content-type')).toContain('application/json');
    expect(document.openapi).toBe('3.1.0');
    expect(document.servers).toEqual([{ url: `${world.server.issuer}/api/v1` }]);
    expect(document.components.securitySchemes['bearer']).toMatchObject({ type: 'http', scheme: 'bearer' });
  });

  it('lists every mounted route, and nothing else', () => {
    const declared = mounted.map((route) => `${route.method.toUpperCase()} ${route.path}`);
    expect(operationsOf(document).sort()).toEqual([...declared].sort());
    expect(declared).toEqual(expect.arrayContaining([
      'GET /users', 'POST /users', 'PATCH /users/{id}', 'POST /users/{id}/disable', 'GET /org-units', 'DELETE /org-units/{id}',
      'PUT /groups/{id}/members/{user_id}', 'POST /role-assignments', 'GET /audit-events/export', 'GET /audit-events/verification',
    ]));
  });

  it('documents the request body of POST /users with its required fields', () => {
    const body = document.paths['/users']!['post']!.requestBody!.content['application/json']!.schema;
    expect(body.type).toBe('object');
    expect([...body.required!].sort()).toEqual(['full_name', 'org_unit_id']);
    expect(Object.keys(body.properties!)).toEqual(expect.arrayContaining([
      'username', 'full_name', 'email', 'phone', 'employee_code', 'national_id', 'position', 'org_unit_id', 'concurrent_unit_ids',
    ]));
  });

  it('documents the import\'s body as the CSV file itself', () => {
    const content = document.paths['/users/import']!['post']!.requestBody!.content;
    expect(Object.keys(content)).toEqual(['text/csv']);
    expect(content['text/csv']!.schema).toEqual({ type: 'string', contentMediaType: 'text/csv', minLength: 1 });
  });

  it('documents path parameters, If-Match where it is honoured, and the error responses', () => {
    const patchUser = document.paths['/users/{id}']!['patch']!;
    expect(patchUser.parameters).toEqual(expect.arrayContaining([
      expect.objectContaining({ name: 'id', in: 'path', required: true }),
      expect.objectContaining({ name: 'If-Match', in: 'header', required: false }),
    ]));
    expect(Object.keys(patchUser.responses)).toEqual(expect.arrayContaining(['200', '400', '401', '403', '404', '409', '412']));
    const membership = document.paths['/groups/{id}/members/{user_id}']!['put']!;
    expect(membership.parameters.filter((parameter) => parameter.in === 'path').map((parameter) => parameter.name).sort()).toEqual(['id', 'user_id']);
    expect(document.components.schemas['Error']!.required).toEqual(['error', 'message', 'request_id']);
  });

  it('gives every operation its own operationId, as client generators need', () => {
    const ids = Object.values(document.paths).flatMap((methods) => Object.values(methods).map((operation) => operation.operationId));
    expect(ids.every((id) => /^[A-Za-z][A-Za-z0-9_]*$/.test(id))).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('describes only operations the server answers: each documented one answers in JSON or CSV, never "no such route"', async () => {
    // A caller with no role, so that nothing changes: each call ends in a validation error, a refusal or an empty list.
    const service = await registerTestClient(world.server, { name: 'Trình kiểm tra tài liệu API', kind: 'service' });
    const caller: ApiCall = apiClient(world.server, await serviceToken(world.server, service.clientId, service.clientSecret!));
    const someId = '6f1c1f3e-8a0b-4c5d-9e2f-1a2b3c4d5e6f';
    for (const operation of operationsOf(document)) {
      const [method, template] = operation.split(' ') as [string, string];
      const response = await caller(method, template.replace(/\{\w+\}/g, someId), method === 'GET' || method === 'DELETE' ? undefined : {});
      expect(response.headers.get('content-type'), operation).toMatch(/^(application\/json|text\/csv)/);
      expect(response.status, operation).not.toBe(405);
    }
  });
});
