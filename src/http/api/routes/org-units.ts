import { z } from 'zod';

import { orgUnitKinds } from '../../../db/schema.ts';
import {
  createOrgUnit,
  getOrgUnit,
  listOrgUnitsInScope,
  newOrgUnitSchema,
  orgUnitPatchSchema,
  removeOrgUnit,
  updateOrgUnit,
  type OrgUnitDeps,
} from '../../../domain/org-units.ts';
import { idSchema } from '../../../domain/person-fields.ts';
import { orgUnit, toOrgUnit } from '../representations.ts';
import { decodeCursor, defineRoute, listLimit, listOf, page, type ApiRoute } from '../route.ts';

const idParams = z.object({ id: idSchema });

export function orgUnitRoutes(deps: OrgUnitDeps): ApiRoute[] {
  return [
    defineRoute({
      method: 'get', path: '/org-units', tag: 'org-units',
      summary: 'The units in your scope, in tree order (each parent before its children), with head counts',
      query: z.object({
        parent_id: idSchema.optional().describe('only the children of this unit'),
        within: idSchema.optional().describe('only this unit and the units below it'),
        status: z.enum(['active', 'closed']).optional(),
        kind: z.enum(orgUnitKinds).optional(),
        q: z.string().trim().min(1).max(200).optional().describe('a name (without case or diacritics) or the start of a code'),
        limit: listLimit,
        cursor: z.string().optional(),
      }),
      response: listOf(orgUnit),
      handler: async ({ query, context }) => {
        const rows = await listOrgUnitsInScope(deps, context, {
          parentId: query.parent_id, withinId: query.within, status: query.status, kind: query.kind, q: query.q,
          afterPath: decodeCursor(query.cursor, z.string()), limit: query.limit + 1,
        });
        return page(rows, query.limit, toOrgUnit, (row) => row.path);
      },
    }),
    defineRoute({
      method: 'post', path: '/org-units', tag: 'org-units', status: 201,
      summary: 'Create a unit under one you administer (a top-level unit needs a global administrator)',
      body: newOrgUnitSchema, response: orgUnit,
      handler: async ({ body, context }) => {
        const unit = await createOrgUnit(deps, context, body);
        return { body: toOrgUnit(unit), version: unit.version };
      },
    }),
    defineRoute({
      method: 'get', path: '/org-units/{id}', tag: 'org-units', summary: 'One unit',
      params: idParams, response: orgUnit,
      handler: async ({ params, context }) => {
        const unit = await getOrgUnit(deps, context, params.id);
        return { body: toOrgUnit(unit), version: unit.version };
      },
    }),
    defineRoute({
      method: 'patch', path: '/org-units/{id}', tag: 'org-units', conditional: true,
      summary: 'Rename, recode, move (parent_id) or close (status) a unit below the root of your scope',
      params: idParams, body: orgUnitPatchSchema, response: orgUnit,
      handler: async ({ params, body, context, expectedVersion }) => {
        const unit = await updateOrgUnit(deps, context, params.id, expectedVersion, body);
        return { body: toOrgUnit(unit), version: unit.version };
      },
    }),
    defineRoute({
      method: 'delete', path: '/org-units/{id}', tag: 'org-units',
      summary: 'Delete a unit that never had people, groups or roles; any other unit can only be closed',
      params: idParams, response: null,
      handler: async ({ params, context }) => {
        await removeOrgUnit(deps, context, params.id);
      },
    }),
  ];
}
