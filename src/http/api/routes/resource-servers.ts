import { z } from 'zod';

import type { ResourceServerGrant } from '../../../db/queries/resource-servers.ts';
import { idSchema } from '../../../domain/person-fields.ts';
import {
  changeResourceServer, changeResourceServerStatus, declareResourceServer, decideOnResourceServer, grantResourceServer, grantsOfResourceServer,
  listResourceServersInCare, readResourceServer, resourceServerChangeSchema, resourceServerGrantSchema, resourceServerSchema, revokeResourceServerGrant,
  type ResourceServerDeps, type ResourceServerDetails,
} from '../../../domain/resource-servers.ts';
import { decodeCursor, defineRoute, listLimit, listOf, page, type ApiRoute } from '../route.ts';

const resourceServer = z.object({
  id: z.string(),
  identifier: z.string().describe('the resource indicator (RFC 8707): what token requests name as `resource`, and tokens carry as `aud`'),
  name: z.string(),
  owner_client_id: z.string().describe('the app that serves the API: its owners look after it, and it may introspect the API\'s tokens'),
  scopes: z.array(z.object({ name: z.string(), description: z.string() })),
  access_token_seconds: z.number().int(),
  access_token_format: z.enum(['jwt', 'opaque']).describe('jwt: ES256 JWTs to verify against /jwks; opaque: to introspect'),
  status: z.enum(['pending', 'active', 'disabled', 'rejected']),
  created_at: z.iso.datetime({ offset: true }),
  updated_at: z.iso.datetime({ offset: true }),
});

const grant = z.object({ client_id: z.string(), client_name: z.string().nullable(), scopes: z.array(z.string()), granted_by: z.string(), created_at: z.iso.datetime({ offset: true }) });

const toResourceServer = (row: ResourceServerDetails) => ({
  id: row.id, identifier: row.identifier, name: row.name, owner_client_id: row.owner_client_id, scopes: [...row.scopes],
  access_token_seconds: row.access_token_seconds, access_token_format: row.access_token_format, status: row.status,
  created_at: row.created_at.toISOString(), updated_at: row.updated_at.toISOString(),
});
const toGrant = (row: ResourceServerGrant) => ({ ...row, created_at: new Date(row.created_at).toISOString() });

const idParams = z.object({ id: idSchema });
const grantParams = idParams.extend({ client_id: z.string().min(1).max(200) });
const cursor = z.object({ name: z.string(), id: z.string() });

/**
 * APIs that apps serve (resource servers) and which clients may get tokens for them. Their
 * developers declare and grant; a global administrator approves, disables and enables.
 */
export function resourceServerRoutes(deps: ResourceServerDeps): ApiRoute[] {
  return [
    defineRoute({
      method: 'get', path: '/resource-servers', tag: 'resource-servers',
      summary: 'Registered APIs: every one for global administrators, those your apps serve for a developer',
      query: z.object({ status: z.enum(['pending', 'active', 'disabled', 'rejected']).optional(), limit: listLimit, cursor: z.string().optional() }),
      response: listOf(resourceServer),
      handler: async ({ query, context }) => {
        const after = decodeCursor(query.cursor, cursor);
        const rows = await listResourceServersInCare(deps.db, context, { status: query.status, after, limit: query.limit + 1 });
        return page(rows, query.limit, toResourceServer, (row) => ({ name: row.name, id: row.id }));
      },
    }),
    defineRoute({
      method: 'post', path: '/resource-servers', tag: 'resource-servers', status: 201,
      summary: 'Declare an API served by one of your apps; pending until a global administrator (not you) approves it; audited',
      body: resourceServerSchema, response: resourceServer,
      handler: async ({ body, context }) => toResourceServer(await declareResourceServer(deps, context, body)),
    }),
    defineRoute({
      method: 'get', path: '/resource-servers/{id}', tag: 'resource-servers', summary: 'A registered API',
      params: idParams, response: resourceServer,
      handler: async ({ params, context }) => toResourceServer(await readResourceServer(deps.db, context, params.id)),
    }),
    defineRoute({
      method: 'patch', path: '/resource-servers/{id}', tag: 'resource-servers',
      summary: 'Change an API\'s name, scopes (replacing them all; a scope left out is taken from every grant), token lifetime or format; audited',
      params: idParams, body: resourceServerChangeSchema, response: resourceServer,
      handler: async ({ params, body, context }) => toResourceServer(await changeResourceServer(deps.db, context, params.id, body)),
    }),
    defineRoute({
      method: 'post', path: '/resource-servers/{id}/approval', tag: 'resource-servers',
      summary: 'Approve or reject an API waiting for approval (global administrators; never one you declared or whose app you own)',
      params: idParams, body: z.object({ decision: z.enum(['approve', 'reject']) }), response: z.object({ status: z.enum(['active', 'rejected']) }),
      handler: async ({ params, body, context }) => {
        await decideOnResourceServer(deps.db, context, params.id, body.decision);
        return { status: body.decision === 'approve' ? 'active' as const : 'rejected' as const };
      },
    }),
    defineRoute({
      method: 'put', path: '/resource-servers/{id}/status', tag: 'resource-servers',
      summary: 'Disable an API (no new token names it, its app no longer introspects its tokens) or enable it again (global administrators)',
      params: idParams, body: z.object({ status: z.enum(['active', 'disabled']) }), response: z.object({ status: z.enum(['active', 'disabled']) }),
      handler: async ({ params, body, context }) => {
        await changeResourceServerStatus(deps.db, context, params.id, body.status);
        return { status: body.status };
      },
    }),
    defineRoute({
      method: 'get', path: '/resource-servers/{id}/grants', tag: 'resource-servers', summary: 'Which apps may get tokens for the API, with which scopes',
      params: idParams, response: z.object({ items: z.array(grant) }),
      handler: async ({ params, context }) => ({ items: (await grantsOfResourceServer(deps.db, context, params.id)).map(toGrant) }),
    }),
    defineRoute({
      method: 'put', path: '/resource-servers/{id}/grants/{client_id}', tag: 'resource-servers',
      summary: 'Let an app get tokens for the API with exactly these of its scopes (the API\'s owners or a global administrator); audited',
      params: grantParams, body: resourceServerGrantSchema, response: grant,
      handler: async ({ params, body, context }) => toGrant(await grantResourceServer(deps.db, context, params.id, params.client_id, body)),
    }),
    defineRoute({
      method: 'delete', path: '/resource-servers/{id}/grants/{client_id}', tag: 'resource-servers',
      summary: 'Stop an app getting tokens for the API; tokens it holds live out their lifetime; audited',
      params: grantParams, response: null,
      handler: async ({ params, context }) => {
        await revokeResourceServerGrant(deps.db, context, params.id, params.client_id);
      },
    }),
  ];
}
