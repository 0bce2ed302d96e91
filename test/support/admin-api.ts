import { insertOrgUnit } from '../../src/db/queries/org-units.ts';
import { insertRoleAssignment } from '../../src/db/queries/role-assignments.ts';
import type { AdminRole, OrgUnit, OrgUnitKind } from '../../src/db/schema.ts';
import type { TestServer } from './server.ts';
import { registerTestClient } from './server.ts';

export interface ApiResponse<T = Record<string, unknown>> {
  status: number;
  headers: Headers;
  body: T;
}

export type ApiCall = <T = Record<string, unknown>>(
  method: string,
  path: string,
  body?: unknown,
  headers?: Record<string, string>,
) => Promise<ApiResponse<T>>;

/** Calls /api/v1 with a bearer token, JSON in and out. */
export function apiClient(server: TestServer, token: string): ApiCall {
  return async (method, path, body, headers = {}) => {
    const response = await fetch(`${server.issuer}/api/v1${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...headers,
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    return { status: response.status, headers: response.headers, body: (text && response.headers.get('content-type')?.includes('json') ? JSON.parse(text) : text) as never };
  };
}

/** A client_credentials access token for the admin API, from the server's real token endpoint. */
export async function serviceToken(server: TestServer, clientId: string, clientSecret: string): Promise<string> {
  const response = await fetch(`${server.issuer}/token`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(clientSecret)}`).toString('base64')}`,
    },
    body: new URLSearchParams({ grant_type: 'client_credentials', resource: `${server.issuer}/api/v1`, scope: 'api' }),
  });
  const json = (await response.json()) as { access_token?: string; error?: string; error_description?: string };
  if (!json.access_token) throw new Error(`no token: ${json.error ?? ''} ${json.error_description ?? ''}`);
  return json.access_token;
}

/** A service client holding `role` globally (unit null) or over a unit's subtree, and an API caller acting as it. */
export async function serviceCaller(server: TestServer, role: AdminRole, unit: OrgUnit | null, name = `${role} automation`): Promise<{ clientId: string; api: ApiCall }> {
  const registered = await registerTestClient(server, { name, kind: 'service' });
  await insertRoleAssignment(server.database.db, { clientId: registered.clientId }, { role, orgUnitId: unit?.id ?? null, grantedBy: 'system' });
  const token = await serviceToken(server, registered.clientId, registered.clientSecret!);
  return { clientId: registered.clientId, api: apiClient(server, token) };
}

/** Adds a unit straight through the queries (tests build their trees this way). */
export function addUnit(server: TestServer, code: string, name: string, kind: OrgUnitKind, parent: OrgUnit | null): Promise<OrgUnit> {
  return insertOrgUnit(server.database.db, { code, name, kind, parent });
}
