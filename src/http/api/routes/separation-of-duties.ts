import { z } from 'zod';

import type { SodRuleRow } from '../../../db/queries/separation-of-duties.ts';
import { idSchema } from '../../../domain/person-fields.ts';
import { createRule, listRules, listViolations, removeRule, sodRuleSchema, type SodDeps } from '../../../domain/separation-of-duties.ts';
import { defineRoute, type ApiRoute } from '../route.ts';

const appRole = z.object({ client_id: z.string(), app_name: z.string(), role: z.string() });
const sodRule = z.object({
  id: z.string(), name: z.string(), description: z.string().nullable(), first: appRole, second: appRole, created_at: z.string(),
});

const toSodRule = (row: SodRuleRow) => ({
  id: row.id, name: row.name, description: row.description,
  first: { client_id: row.client_a, app_name: row.app_a, role: row.role_a },
  second: { client_id: row.client_b, app_name: row.app_b, role: row.role_b },
  created_at: row.created_at.toISOString(),
});

export function separationOfDutiesRoutes(deps: SodDeps): ApiRoute[] {
  return [
    defineRoute({
      method: 'get', path: '/sod-rules', tag: 'apps', summary: 'Separation-of-duties rules: pairs of app roles one person must not hold in the same unit',
      response: z.object({ items: z.array(sodRule) }),
      handler: async ({ context }) => ({ items: (await listRules(deps, context)).map(toSodRule) }),
    }),
    defineRoute({
      method: 'post', path: '/sod-rules', tag: 'apps', status: 201,
      summary: 'Forbid one person two app roles in the same unit; later grants that would break it are refused (global administrators)',
      body: sodRuleSchema, response: sodRule,
      handler: async ({ body, context }) => toSodRule(await createRule(deps, context, body)),
    }),
    defineRoute({
      method: 'delete', path: '/sod-rules/{id}', tag: 'apps', summary: 'Remove a separation-of-duties rule (global administrators)',
      params: z.object({ id: idSchema }), response: null,
      handler: async ({ params, context }) => {
        await removeRule(deps, context, params.id);
      },
    }),
    defineRoute({
      method: 'get', path: '/sod-violations', tag: 'apps',
      summary: 'People who hold two roles a rule forbids in one unit (through transfers, reorganizations or rules written after the grants), among the people you can see',
      response: z.object({
        items: z.array(z.object({
          rule_id: z.string(), rule_name: z.string(), user_id: z.string(), username: z.string(), full_name: z.string(),
          unit_id: z.string().nullable(), unit_name: z.string().nullable(), app_a: z.string(), role_a: z.string(), app_b: z.string(), role_b: z.string(),
        })),
      }),
      handler: async ({ context }) => ({ items: await listViolations(deps, context) }),
    }),
  ];
}
