import { z } from 'zod';

import { orgUnitKinds, reorganizationPlanStatuses, type ReorganizationPlan } from '../../../db/schema.ts';
import type { AdminContext } from '../../../domain/authorization.ts';
import { idSchema } from '../../../domain/person-fields.ts';
import type { Said } from '../../../errors.ts';
import {
  cancelReorganizationPlan, changeReorganizationSteps, createReorganizationPlan, getReorganizationPlan, listReorganizationPlansInScope,
  newReorganizationPlanSchema, orgTreeAsItStood, reorganizationDryRun, scheduleReorganizationPlan, stepsOf, type ReorganizationDeps,
} from '../../../domain/reorganization-plans.ts';
import { reorganizationStepSchema } from '../../../domain/reorganization-steps.ts';
import type { ReorganizationReport } from '../../../domain/reorganization-report.ts';
import { reorganizationReportCsv } from '../../reorganization-csv.ts';
import { decodeCursor, defineRoute, listLimit, listOf, page, type ApiRoute } from '../route.ts';

const timestamp = z.iso.datetime({ offset: true });
const isoOrNull = (value: Date | null) => (value ? value.toISOString() : null);

export const reorganizationPlan = z.object({
  id: z.uuid(),
  name: z.string(),
  effective_date: z.iso.date(),
  status: z.enum(reorganizationPlanStatuses),
  steps: z.array(reorganizationStepSchema),
  created_by: z.string(),
  created_at: timestamp,
  scheduled_by: z.string().nullable(),
  scheduled_at: timestamp.nullable(),
  accepted_losses: z.array(z.object({ key: z.string(), kind: z.string(), message: z.string() })).nullable()
    .describe('the losses the dry run listed when the plan was scheduled; the job refuses to lose anything more'),
  cancelled_at: timestamp.nullable(),
  applied_at: timestamp.nullable(),
  last_error: z.string().nullable().describe('why the job could not apply the plan on its date (it tries again on every run)'),
  version: z.number().int(),
});

export const toReorganizationPlan = (plan: ReorganizationPlan) => ({
  id: plan.id, name: plan.name, effective_date: plan.effective_date, status: plan.status, steps: stepsOf(plan), created_by: plan.created_by,
  created_at: plan.created_at.toISOString(), scheduled_by: plan.scheduled_by, scheduled_at: isoOrNull(plan.scheduled_at),
  accepted_losses: plan.accepted_losses as z.input<typeof reorganizationPlan>['accepted_losses'], cancelled_at: isoOrNull(plan.cancelled_at),
  applied_at: isoOrNull(plan.applied_at), last_error: plan.last_error, version: plan.version,
});

const unitState = z.object({
  code: z.string(), name: z.string(), kind: z.enum(orgUnitKinds), path_codes: z.array(z.string()), status: z.enum(['active', 'closed']), mfa_required: z.boolean(),
});
const placed = z.object({ code: z.string(), path_codes: z.array(z.string()) }).nullable();
const rightChange = z.object({ id: z.string(), holder: z.string(), what: z.string(), unit_before: z.string(), units_after: z.array(z.string()), notes: z.array(z.string()) });

export const reorganizationReport = z.object({
  units: z.array(z.object({
    id: z.string().describe('the unit\'s id; "new:<code>" for a unit the plan creates'),
    before: unitState.nullable(), after: unitState, successor_code: z.string().nullable(), notes: z.array(z.string()),
  })),
  people: z.array(z.object({
    id: z.uuid(), username: z.string(), full_name: z.string(), status: z.string(), unit_before: placed, unit_after: placed,
    concurrent_before: z.array(z.string()), concurrent_after: z.array(z.string()),
    apps: z.array(z.object({ client_id: z.string(), client_name: z.string(), before: z.array(z.string()).nullable(), after: z.array(z.string()).nullable() }))
      .describe('every app the person reaches through an assignment: its roles before and after (null: no access)'),
    second_factor: z.object({ before: z.boolean(), after: z.boolean() }).describe('whether a unit\'s policy makes the person sign in with a second factor'),
  })),
  groups: z.array(z.object({ id: z.uuid(), name_before: z.string(), unit_before: z.string(), name_after: z.string(), unit_after: z.string() })),
  app_assignments: z.array(rightChange),
  role_assignments: z.array(rightChange),
  losses: z.array(z.object({ key: z.string(), kind: z.string(), message: z.string() })).describe('everything the plan takes from someone, listed; nothing is lost silently'),
  gains: z.array(z.object({ key: z.string(), message: z.string() })),
  sod_conflicts: z.array(z.object({ key: z.string(), message: z.string() })).describe('separation-of-duties rules the plan would make someone break; while there are any, the plan cannot be scheduled or applied'),
  totals: z.object({
    units: z.number(), people: z.number(), groups: z.number(), app_assignments: z.number(), role_assignments: z.number(), losses: z.number(), gains: z.number(), sod_conflicts: z.number(),
  }),
  operations: z.record(z.string(), z.array(z.record(z.string(), z.unknown()))).describe('the statements the apply carries out, in order'),
});

const idParams = z.object({ id: idSchema });

/** A change of a plan's status (schedule, cancel): a POST with no body, answering the plan. */
function planTransition(name: string, summary: string, change: (context: AdminContext, id: string, version: number | undefined) => Promise<ReorganizationPlan>): ApiRoute {
  return defineRoute({
    method: 'post', path: `/reorganization-plans/{id}/${name}`, tag: 'reorganization', conditional: true, summary,
    params: idParams, response: reorganizationPlan,
    handler: async ({ params, context, expectedVersion }) => {
      const plan = await change(context, params.id, expectedVersion);
      return { body: toReorganizationPlan(plan), version: plan.version };
    },
  });
}

export function reorganizationPlanRoutes(deps: ReorganizationDeps): ApiRoute[] {
  return [
    defineRoute({
      method: 'get', path: '/reorganization-plans', tag: 'reorganization', summary: 'Reorganization plans (global roles)',
      query: z.object({ status: z.enum(reorganizationPlanStatuses).optional(), limit: listLimit, cursor: z.string().optional() }),
      response: listOf(reorganizationPlan),
      handler: async ({ query, context }) => {
        const rows = await listReorganizationPlansInScope(deps, context, { status: query.status, afterId: decodeCursor(query.cursor, z.uuid()), limit: query.limit + 1 });
        return page(rows, query.limit, toReorganizationPlan, (row) => row.id);
      },
    }),
    defineRoute({
      method: 'post', path: '/reorganization-plans', tag: 'reorganization', status: 201,
      summary: 'Start a plan (a draft) with its effective date and, optionally, its steps; a step that cannot be carried out is refused (422), naming it',
      body: newReorganizationPlanSchema, response: reorganizationPlan,
      handler: async ({ body, context }) => {
        const plan = await createReorganizationPlan(deps, context, body);
        return { body: toReorganizationPlan(plan), version: plan.version };
      },
    }),
    defineRoute({
      method: 'get', path: '/reorganization-plans/{id}', tag: 'reorganization', summary: 'One plan',
      params: idParams, response: reorganizationPlan,
      handler: async ({ params, context }) => {
        const plan = await getReorganizationPlan(deps, context, params.id);
        return { body: toReorganizationPlan(plan), version: plan.version };
      },
    }),
    defineRoute({
      method: 'post', path: '/reorganization-plans/{id}/steps', tag: 'reorganization', status: 201, conditional: true,
      summary: 'Add a step to a draft plan: merge, split, abolish_level, rename or recode, each with its decision (number and date)',
      params: idParams, body: reorganizationStepSchema, response: reorganizationPlan,
      handler: async ({ params, body, context, expectedVersion }) => {
        const plan = await changeReorganizationSteps(deps, context, params.id, expectedVersion, { step: body });
        return { body: toReorganizationPlan(plan), version: plan.version };
      },
    }),
    defineRoute({
      method: 'delete', path: '/reorganization-plans/{id}/steps/{number}', tag: 'reorganization', conditional: true,
      summary: 'Remove a draft plan\'s step (numbered from 1)',
      params: z.object({ id: idSchema, number: z.coerce.number().int().min(1).max(1000) }), response: reorganizationPlan,
      handler: async ({ params, context, expectedVersion }) => {
        const plan = await changeReorganizationSteps(deps, context, params.id, expectedVersion, { removeIndex: params.number - 1 });
        return { body: toReorganizationPlan(plan), version: plan.version };
      },
    }),
    defineRoute({
      method: 'get', path: '/reorganization-plans/{id}/dry-run', tag: 'reorganization',
      summary: 'What the plan does: every unit and person it touches, how each person\'s access maps to the new units, what is lost and what is gained; for an applied plan, what it did',
      params: idParams, response: reorganizationReport,
      handler: async ({ params, context }) => reportForApi((await reorganizationDryRun(deps, context, params.id)).report),
    }),
    defineRoute({
      method: 'get', path: '/reorganization-plans/{id}/dry-run/export', tag: 'reorganization', response: z.string(), alsoProduces: ['text/csv'],
      summary: 'The dry run as CSV (UTF-8, for a spreadsheet): a line per unit, person and app, group, right carried over, loss and gain',
      params: idParams,
      handler: async ({ params, context }) => {
        const { plan, report } = await reorganizationDryRun(deps, context, params.id);
        return { raw: reorganizationReportCsv(report), type: 'text/csv; charset=utf-8', filename: `reorganization-${plan.id}.csv` };
      },
    }),
    planTransition('schedule', 'Schedule a draft plan for its effective date, accepting the losses its dry run lists now; the job will not lose anything more',
      (context, id, version) => scheduleReorganizationPlan(deps, context, id, version)),
    planTransition('cancel', 'Cancel a plan that has not been applied', (context, id, version) => cancelReorganizationPlan(deps, context, id, version)),
    defineRoute({
      method: 'get', path: '/org-tree-history', tag: 'reorganization',
      summary: 'The whole org tree as it stood at a moment (global roles): units closed since then show as they were, in tree order',
      query: z.object({ at: z.iso.datetime({ offset: true }).or(z.iso.date()).describe('an instant, or a date (the tree at the end of that day, Vietnam time)') }),
      response: z.object({ items: z.array(z.object({ id: z.string(), code: z.string(), name: z.string(), kind: z.enum(orgUnitKinds), parent_id: z.string().nullable(), depth: z.number(), status: z.enum(['active', 'closed']) })) }),
      handler: async ({ query, context }) => {
        const units = await orgTreeAsItStood(deps, context, query.at);
        return { items: units.map((unit) => ({ id: unit.id, code: unit.code, name: unit.name, kind: unit.kind, parent_id: unit.parent_id, depth: unit.depth, status: unit.status })) };
      },
    }),
  ];
}

/** The dry run as the API gives it: each note in its English words (the console shows them in the page's language). */
function reportForApi(report: ReorganizationReport): z.input<typeof reorganizationReport> {
  const words = <Item extends { notes: readonly Said[] }>(items: readonly Item[]) => items.map((item) => ({ ...item, notes: item.notes.map((note) => note.message) }));
  return { ...report, units: words(report.units), app_assignments: words(report.app_assignments), role_assignments: words(report.role_assignments) } as unknown as z.input<typeof reorganizationReport>;
}
