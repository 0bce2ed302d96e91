import { z } from 'zod';

import { adminRoles } from '../../../db/schema.ts';
import {
  grantRole,
  listRoleAssignmentsInScope,
  newRoleAssignmentSchema,
  revokeRole,
  type RoleAssignmentDeps,
} from '../../../domain/role-assignments.ts';
import { idSchema } from '../../../domain/person-fields.ts';
import { roleAssignment, toRoleAssignment } from '../representations.ts';
import { decodeCursor, defineRoute, listLimit, listOf, page, type ApiRoute } from '../route.ts';

export function roleAssignmentRoutes(deps: RoleAssignmentDeps): ApiRoute[] {
  return [
    defineRoute({
      method: 'get', path: '/role-assignments', tag: 'role-assignments',
      summary: 'Admin roles over the units in your scope (global ones only to global administrators)',
      query: z.object({
        user_id: idSchema.optional(),
        client_id: z.string().optional(),
        role: z.enum(adminRoles).optional(),
        limit: listLimit,
        cursor: z.string().optional(),
      }),
      response: listOf(roleAssignment),
      handler: async ({ query, context }) => {
        const rows = await listRoleAssignmentsInScope(deps, context, {
          userId: query.user_id, clientId: query.client_id, role: query.role, afterId: decodeCursor(query.cursor, idSchema), limit: query.limit + 1,
        });
        return page(rows, query.limit, toRoleAssignment, (row) => row.id);
      },
    }),
    defineRoute({
      method: 'post', path: '/role-assignments', tag: 'role-assignments', status: 201,
      summary: 'Grant a role you hold, over a unit in your scope, to someone else (or, globally, to a service client)',
      body: newRoleAssignmentSchema, response: roleAssignment,
      handler: async ({ body, context }) => toRoleAssignment(await grantRole(deps, context, body)),
    }),
    defineRoute({
      method: 'delete', path: '/role-assignments/{id}', tag: 'role-assignments', summary: 'Take a role away (where you could grant it)',
      params: z.object({ id: idSchema }), response: null,
      handler: async ({ params, context }) => {
        await revokeRole(deps, context, params.id);
      },
    }),
  ];
}
