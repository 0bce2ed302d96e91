import { z } from 'zod';

import { userSortOrders } from '../../../db/queries/users.ts';
import { scopeCovers, scopeOf, type AdminContext } from '../../../domain/authorization.ts';
import {
  changeUserStatus,
  createUser,
  sendActivation,
  resetUserFactors,
  unlockUser,
  getUser,
  listUsersInScope,
  newUserSchema,
  updateUser,
  userListCursor,
  userPatchSchema,
  type UserAdminDeps,
} from '../../../domain/users.ts';
import type { UserDetail } from '../../../db/queries/users.ts';
import { idSchema } from '../../../domain/person-fields.ts';
import { toUserDetail, toUserSummary, userDetail, userStatus, userSummary } from '../representations.ts';
import { decodeCursor, defineRoute, listLimit, listOf, page, type ApiRoute } from '../route.ts';

const idParams = z.object({ id: idSchema });

/** The national id in full only for those who may change the person; everyone else sees it masked. */
function detailFor(context: AdminContext, user: UserDetail) {
  const showNationalId = scopeCovers(scopeOf(context.principal, 'users.write'), user.org_unit?.path ?? null);
  return { body: toUserDetail(user, { showNationalId }), version: user.version };
}

export function userRoutes(deps: UserAdminDeps): ApiRoute[] {
  const lifecycle = (verb: 'suspend' | 'disable' | 'enable', status: 'suspended' | 'disabled' | 'active', summary: string) =>
    defineRoute({
      method: 'post', path: `/users/{id}/${verb}`, tag: 'users', summary, params: idParams, response: userDetail, conditional: true,
      handler: async ({ params, context, expectedVersion }) =>
        detailFor(context, await changeUserStatus(deps, context, params.id, expectedVersion, status)),
    });

  return [
    defineRoute({
      method: 'get', path: '/users', tag: 'users',
      summary: 'List the people in your scope: search by name, username, email or employee code without case or diacritics',
      query: z.object({
        q: z.string().trim().min(1).max(200).optional().describe('words that must all appear; "dang" finds "Đặng"'),
        status: userStatus.optional(),
        org_unit_id: idSchema.optional().describe('only people serving in this unit or below it'),
        group_id: idSchema.optional(),
        sort: z.enum(userSortOrders).optional()
          .describe('family_name and given_name follow the Vietnamese alphabet; newest is created_at, latest first. Without it, a search (q) lists the newest first and a list without q goes by family_name'),
        limit: listLimit,
        cursor: z.string().optional(),
      }),
      response: listOf(userSummary),
      handler: async ({ query, context }) => {
        const rows = await listUsersInScope(deps, context, {
          q: query.q, status: query.status, withinId: query.org_unit_id, groupId: query.group_id, sort: query.sort,
          after: decodeCursor(query.cursor, userListCursor), limit: query.limit + 1,
        });
        return page(rows, query.limit, toUserSummary, (row) => ({ key: row.sort_key, id: row.id }));
      },
    }),
    defineRoute({
      method: 'post', path: '/users', tag: 'users', status: 201,
      summary: 'Create a person in a unit you administer; they start pending activation',
      body: newUserSchema, response: userDetail,
      handler: async ({ body, context }) => detailFor(context, await createUser(deps, context, body)),
    }),
    defineRoute({
      method: 'get', path: '/users/{id}', tag: 'users', summary: 'One person, with their units and groups',
      params: idParams, response: userDetail,
      handler: async ({ params, context }) => detailFor(context, await getUser(deps, context, params.id)),
    }),
    defineRoute({
      method: 'patch', path: '/users/{id}', tag: 'users', conditional: true,
      summary: 'Change a person; send If-Match with the ETag you read to avoid overwriting someone else\'s change',
      params: idParams, body: userPatchSchema, response: userDetail,
      handler: async ({ params, body, context, expectedVersion }) =>
        detailFor(context, await updateUser(deps, context, params.id, expectedVersion, body)),
    }),
    lifecycle('suspend', 'suspended', 'Suspend a person: every session and token ends, apps get back-channel logout; reversible'),
    lifecycle('disable', 'disabled', 'Disable a leaver: every session and token ends, apps get back-channel logout'),
    lifecycle('enable', 'active', 'Let a suspended or disabled person sign in again'),
    defineRoute({
      method: 'post', path: '/users/{id}/unlock', tag: 'users',
      summary: 'Lift the lock that too many failed sign-ins put on a person\'s username and email, so they can try again at once',
      params: idParams, response: userDetail,
      handler: async ({ params, context }) => detailFor(context, await unlockUser(deps, context, params.id)),
    }),
    defineRoute({
      method: 'post', path: '/users/{id}/reset-factors', tag: 'users',
      summary: 'Remove every second factor and recovery code of a person who lost them; they are told by mail, and policy has them enrol again at their next sign-in',
      params: idParams, response: z.object({ removed_factors: z.number().int() }),
      handler: async ({ params, context }) => ({ removed_factors: await resetUserFactors(deps, context, params.id) }),
    }),
    defineRoute({
      method: 'post', path: '/users/{id}/activation', tag: 'users',
      summary: 'Send a new activation link to someone not yet activated (the old link stops working). Mailed to their address; ' +
        'for a person without one, the token is returned this once for the helpdesk to hand over',
      params: idParams,
      response: z.object({
        mailed_to: z.string().nullable(),
        activation_token: z.string().nullable().describe('only when there is no address to mail it to'),
      }),
      handler: async ({ params, context }) => {
        const sent = await sendActivation(deps, context, params.id);
        return { mailed_to: sent.mailedTo, activation_token: sent.token };
      },
    }),
  ];
}
