import { z } from 'zod';

import {
  changeGroupMembership,
  createGroup,
  getGroup,
  groupPatchSchema,
  listGroupsInScope,
  newGroupSchema,
  removeGroup,
  updateGroup,
  type GroupDeps,
} from '../../../domain/groups.ts';
import { idSchema } from '../../../domain/person-fields.ts';
import { group, toGroup } from '../representations.ts';
import { decodeCursor, defineRoute, listLimit, listOf, page, type ApiRoute } from '../route.ts';

const idParams = z.object({ id: idSchema });
const memberParams = z.object({ id: idSchema, user_id: idSchema });

export function groupRoutes(deps: GroupDeps): ApiRoute[] {
  return [
    defineRoute({
      method: 'get', path: '/groups', tag: 'groups', summary: 'The groups of the units in your scope (members: GET /users?group_id=)',
      query: z.object({
        org_unit_id: idSchema.optional().describe('only groups of this unit and the units below it'),
        q: z.string().trim().min(1).max(200).optional(),
        limit: listLimit,
        cursor: z.string().optional(),
      }),
      response: listOf(group),
      handler: async ({ query, context }) => {
        const rows = await listGroupsInScope(deps, context, {
          withinId: query.org_unit_id, q: query.q, afterId: decodeCursor(query.cursor, idSchema), limit: query.limit + 1,
        });
        return page(rows, query.limit, toGroup, (row) => row.id);
      },
    }),
    defineRoute({
      method: 'post', path: '/groups', tag: 'groups', status: 201, summary: 'Create a group in a unit you administer',
      body: newGroupSchema, response: group,
      handler: async ({ body, context }) => {
        const created = await createGroup(deps, context, body);
        return { body: toGroup(created), version: created.version };
      },
    }),
    defineRoute({
      method: 'get', path: '/groups/{id}', tag: 'groups', summary: 'One group', params: idParams, response: group,
      handler: async ({ params, context }) => {
        const found = await getGroup(deps, context, params.id);
        return { body: toGroup(found), version: found.version };
      },
    }),
    defineRoute({
      method: 'patch', path: '/groups/{id}', tag: 'groups', conditional: true, summary: 'Rename a group or change its description',
      params: idParams, body: groupPatchSchema, response: group,
      handler: async ({ params, body, context, expectedVersion }) => {
        const updated = await updateGroup(deps, context, params.id, expectedVersion, body);
        return { body: toGroup(updated), version: updated.version };
      },
    }),
    defineRoute({
      method: 'delete', path: '/groups/{id}', tag: 'groups', summary: 'Delete a group (its members stay, outside it)',
      params: idParams, response: null,
      handler: async ({ params, context }) => {
        await removeGroup(deps, context, params.id);
      },
    }),
    defineRoute({
      method: 'put', path: '/groups/{id}/members/{user_id}', tag: 'groups', summary: 'Add a person you can see to a group you manage',
      params: memberParams, response: null,
      handler: async ({ params, context }) => {
        await changeGroupMembership(deps, context, params.id, params.user_id, 'add');
      },
    }),
    defineRoute({
      method: 'delete', path: '/groups/{id}/members/{user_id}', tag: 'groups', summary: 'Take a person out of a group',
      params: memberParams, response: null,
      handler: async ({ params, context }) => {
        await changeGroupMembership(deps, context, params.id, params.user_id, 'remove');
      },
    }),
  ];
}
