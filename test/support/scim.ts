import { expect } from 'vitest';

import type { AdminRole, OrgUnit } from '../../src/db/schema.ts';
import { ScimError } from '../../src/errors.ts';
import type { ApiCall } from './admin-api.ts';
import { grantDirectly } from './admin-api.ts';
import { registerTestClient, type TestServer } from './server.ts';

/** The SCIM service's resource indicator on a test server. */
export const scimResource = (server: TestServer) => `${server.issuer}/scim/v2`;

export interface ScimResponse<T = Record<string, unknown>> {
  status: number;
  headers: Headers;
  body: T;
}

export type ScimCall = <T = Record<string, unknown>>(method: string, path: string, body?: unknown, headers?: Record<string, string>) => Promise<ScimResponse<T>>;

/** Calls /scim/v2 with a bearer token, application/scim+json in and out, as a SCIM client does. */
export function scimClient(server: TestServer, token: string): ScimCall {
  return async (method, path, body, headers = {}) => {
    const response = await fetch(`${scimResource(server)}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        accept: 'application/scim+json',
        ...(body === undefined ? {} : { 'content-type': 'application/scim+json' }),
        ...headers,
      },
      ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
    });
    const text = await response.text();
    return { status: response.status, headers: response.headers, body: (text ? JSON.parse(text) : null) as never };
  };
}

/** A client_credentials token for SCIM from the real token endpoint; the error when there is none. */
export async function requestScimToken(server: TestServer, clientId: string, clientSecret: string, params: Record<string, string> = {}): Promise<{ access_token?: string; error?: string; error_description?: string }> {
  const response = await fetch(`${server.issuer}/token`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(clientSecret)}`).toString('base64')}`,
    },
    body: new URLSearchParams({ grant_type: 'client_credentials', resource: scimResource(server), scope: 'scim', ...params }),
  });
  return (await response.json()) as { access_token?: string; error?: string };
}

export interface ScimApp {
  readonly clientId: string;
  readonly clientSecret: string;
  readonly scim: ScimCall;
}

/**
 * An app (a confidential web client, as the hospital system is) that a global administrator allowed
 * SCIM through the admin API, optionally restricted and holding admin roles, with a SCIM caller.
 */
export async function scimApp(
  server: TestServer,
  superAdmin: ApiCall,
  options: { name: string; restricted?: boolean; roles?: readonly { role: AdminRole; unit: OrgUnit | null }[] },
): Promise<ScimApp> {
  const registered = await registerTestClient(server, { name: options.name, redirectUris: [`https://${options.name.length}.benhvien.example/callback`] });
  expect((await superAdmin('PUT', `/apps/${registered.clientId}/scim-access`, { scim_access: true })).status).toBe(200);
  if (options.restricted) expect((await superAdmin('PUT', `/apps/${registered.clientId}/access-policy`, { access_policy: 'restricted' })).status).toBe(200);
  for (const { role, unit } of options.roles ?? []) await grantDirectly(server, { clientId: registered.clientId }, role, unit);
  const token = await requestScimToken(server, registered.clientId, registered.clientSecret!);
  if (!token.access_token) throw new Error(`no SCIM token: ${token.error ?? ''} ${token.error_description ?? ''}`);
  return { clientId: registered.clientId, clientSecret: registered.clientSecret!, scim: scimClient(server, token.access_token) };
}

/** A SCIM error as RFC 7644 §3.12 has it: the Error schema, the status as a string, the scimType when one applies. */
export function expectScimError(response: ScimResponse<unknown>, status: number, scimType?: string, detailContains = ''): void {
  expect(response.status, JSON.stringify(response.body)).toBe(status);
  expect(response.headers.get('content-type')).toContain('application/scim+json');
  const body = response.body as { schemas?: unknown; status?: unknown; scimType?: unknown; detail?: unknown };
  expect(body.schemas).toEqual(['urn:ietf:params:scim:api:messages:2.0:Error']);
  expect(body.status).toBe(String(status));
  expect(body.scimType).toBe(scimType);
  expect(typeof body.detail === 'string' ? body.detail : null).toContain(detailContains);
}

/** The ScimError a pure function throws, for unit tests of the parser and the PATCH engine. */
export function scimRefusal(run: () => unknown): ScimError {
  try {
    run();
  } catch (error) {
    if (error instanceof ScimError) return error;
    throw error;
  }
  throw new Error('expected a ScimError');
}
