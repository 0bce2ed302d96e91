import { z } from 'zod';

import type { AppAssignmentRow } from '../../../db/queries/app-access.ts';
import {
  appAccessPolicySchema, appAssignmentSchema, appRolesSchema, assignApp, declareAppRoles, listAppAssignmentsInScope, scimAccessSchema, setAppAccessPolicy, setScimAccess, unassignApp,
  type AppAccessDeps,
} from '../../../domain/app-access.ts';
import { idSchema } from '../../../domain/person-fields.ts';
import { defineRoute, type ApiRoute } from '../route.ts';

const clientParams = z.object({ client_id: z.string().min(1).max(200) });

const appAssignment = z.object({
  id: z.string(),
  client_id: z.string(),
  org_unit_id: z.string().nullable(),
  group_id: z.string().nullable(),
  user_id: z.string().nullable(),
  holder_name: z.string().nullable(),
  roles: z.array(z.string()),
  created_at: z.string(),
});

const toAppAssignment = (row: AppAssignmentRow) => ({
  id: row.id, client_id: row.client_id, org_unit_id: row.org_unit_id, group_id: row.group_id, user_id: row.user_id,
  holder_name: row.holder_name, roles: row.roles, created_at: row.created_at.toISOString(),
});

export function appAccessRoutes(deps: AppAccessDeps): ApiRoute[] {
  return [
    defineRoute({
      method: 'get', path: '/apps/{client_id}/assignments', tag: 'apps', summary: 'Who the app is open to, within your scope: units (with their subtrees), groups and people, with its roles',
      params: clientParams, response: z.object({ items: z.array(appAssignment) }),
      handler: async ({ params, context }) => ({ items: (await listAppAssignmentsInScope(deps, context, params.client_id)).map(toAppAssignment) }),
    }),
    defineRoute({
      method: 'post', path: '/apps/{client_id}/assignments', tag: 'apps', status: 201,
      summary: 'Open the app to a unit (and its subtree), a group or a person you administer, with some of its declared roles',
      params: clientParams, body: appAssignmentSchema, response: appAssignment,
      handler: async ({ params, body, context }) => toAppAssignment(await assignApp(deps, context, params.client_id, body)),
    }),
    defineRoute({
      method: 'delete', path: '/app-assignments/{id}', tag: 'apps', summary: 'Remove an assignment; whoever it alone covered can no longer sign in to the app or refresh its tokens',
      params: z.object({ id: idSchema }), response: null,
      handler: async ({ params, context }) => {
        await unassignApp(deps, context, params.id);
      },
    }),
    defineRoute({
      method: 'put', path: '/apps/{client_id}/access-policy', tag: 'apps',
      summary: 'open: every active person may sign in; restricted: only those an assignment covers (global administrators)',
      params: clientParams, body: appAccessPolicySchema, response: appAccessPolicySchema,
      handler: async ({ params, body, context }) => {
        await setAppAccessPolicy(deps, context, params.client_id, body.access_policy);
        return body;
      },
    }),
    defineRoute({
      method: 'put', path: '/apps/{client_id}/scim-access', tag: 'apps',
      summary: 'Let the app pull the people its access policy covers through SCIM 2.0 at /scim/v2 (client_credentials, scope scim), or stop it (global administrators)',
      params: clientParams, body: scimAccessSchema, response: scimAccessSchema,
      handler: async ({ params, body, context }) => {
        await setScimAccess(deps, context, params.client_id, body.scim_access);
        return body;
      },
    }),
    defineRoute({
      method: 'put', path: '/apps/{client_id}/roles', tag: 'apps', summary: 'The roles the app declares; assignments keep only those still declared (global administrators)',
      params: clientParams, body: appRolesSchema, response: appRolesSchema,
      handler: async ({ params, body, context }) => {
        await declareAppRoles(deps, context, params.client_id, body);
        return body;
      },
    }),
  ];
}
