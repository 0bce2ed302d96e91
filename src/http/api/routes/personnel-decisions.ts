import { z } from 'zod';

import type { PersonnelDecisionRow } from '../../../db/queries/personnel-decisions.ts';
import { personnelDecisionKinds, personnelDecisionStatuses } from '../../../db/schema.ts';
import {
  getUnitInactivityPolicy, setUnitInactivity, unitInactivityPolicySchema, type InactivityDeps,
} from '../../../domain/inactivity-policy.ts';
import {
  cancelPersonnelDecision, getPersonnelDecision, listPersonnelDecisionsInScope, newPersonnelDecisionSchema, recordPersonnelDecision,
  type PersonnelDecisionDeps,
} from '../../../domain/personnel-decisions.ts';
import { idSchema } from '../../../domain/person-fields.ts';
import { decodeCursor, defineRoute, listLimit, listOf, page, type ApiRoute } from '../route.ts';

const idParams = z.object({ id: idSchema });
const calendarDate = z.iso.date();
const timestamp = z.iso.datetime({ offset: true });
const unit = z.object({ id: z.uuid(), code: z.string(), name: z.string() }).nullable();

const personnelDecision = z.object({
  id: z.uuid(),
  kind: z.enum(personnelDecisionKinds),
  decision_number: z.string(),
  decision_date: calendarDate,
  effective_date: calendarDate.describe('the province\'s date (GMT+7) from which it applies'),
  user: z.object({ id: z.uuid(), username: z.string(), full_name: z.string() }),
  org_unit_before: unit.describe('the person\'s primary unit when the decision was recorded'),
  org_unit_after: unit.describe('the unit it places them in; null for leavers'),
  position: z.string().nullable(),
  note: z.string().nullable(),
  status: z.enum(personnelDecisionStatuses),
  recorded_by: z.string(),
  created_at: timestamp,
  applied_at: timestamp.nullable(),
  cancelled_at: timestamp.nullable(),
  last_error: z.string().nullable().describe('why it could not be applied yet (a closed unit, …); retried on every run of the governance job'),
});

const unitOf = (id: string | null, code: string | null, name: string | null) => (id !== null && code !== null && name !== null ? { id, code, name } : null);

export function toPersonnelDecision(row: PersonnelDecisionRow): z.input<typeof personnelDecision> {
  return {
    id: row.id, kind: row.kind, decision_number: row.decision_number, decision_date: row.decision_date, effective_date: row.effective_date,
    user: { id: row.user_id, username: row.user_username, full_name: row.user_full_name },
    org_unit_before: unitOf(row.org_unit_before_id, row.before_code, row.before_name),
    org_unit_after: unitOf(row.org_unit_after_id, row.after_code, row.after_name),
    position: row.position, note: row.note, status: row.status, recorded_by: row.recorded_by,
    created_at: row.created_at.toISOString(), applied_at: row.applied_at?.toISOString() ?? null, cancelled_at: row.cancelled_at?.toISOString() ?? null,
    last_error: row.last_error,
  };
}

const decisionCursor = z.object({ effective_date: calendarDate, id: idSchema });

const inactivityPolicy = unitInactivityPolicySchema.extend({
  effective_warn_days: z.number().int().describe('what applies in this unit: its own setting, the nearest unit above with one, or the default'),
  effective_suspend_days: z.number().int(),
});

export function personnelDecisionRoutes(deps: PersonnelDecisionDeps & InactivityDeps): ApiRoute[] {
  return [
    defineRoute({
      method: 'get', path: '/personnel-decisions', tag: 'personnel-decisions',
      summary: 'Personnel decisions about people in your scope, the next to take effect first; pending ones wait for their effective date',
      query: z.object({
        status: z.enum(personnelDecisionStatuses).optional(),
        kind: z.enum(personnelDecisionKinds).optional(),
        user_id: idSchema.optional(),
        future: z.stringbool().optional().describe('true: only those whose effective date is after today (the province\'s date)'),
        limit: listLimit,
        cursor: z.string().optional(),
      }),
      response: listOf(personnelDecision),
      handler: async ({ query, context }) => {
        const rows = await listPersonnelDecisionsInScope(deps, context, {
          status: query.status, kind: query.kind, userId: query.user_id, futureOnly: query.future,
          after: decodeCursor(query.cursor, decisionCursor), limit: query.limit + 1,
        });
        return page(rows, query.limit, toPersonnelDecision, (row) => ({ effective_date: row.effective_date, id: row.id }));
      },
    }),
    defineRoute({
      method: 'post', path: '/personnel-decisions', tag: 'personnel-decisions', status: 201,
      summary: 'Record a decision (appointment, transfer, concurrent_appointment, leave, retirement, dismissal) for a person in your scope, ' +
        'placing them only in units you administer; it applies on its effective date, at once when that date has come',
      body: newPersonnelDecisionSchema, response: personnelDecision,
      handler: async ({ body, context }) => toPersonnelDecision(await recordPersonnelDecision(deps, context, body)),
    }),
    defineRoute({
      method: 'get', path: '/personnel-decisions/{id}', tag: 'personnel-decisions', summary: 'One personnel decision',
      params: idParams, response: personnelDecision,
      handler: async ({ params, context }) => toPersonnelDecision(await getPersonnelDecision(deps, context, params.id)),
    }),
    defineRoute({
      method: 'post', path: '/personnel-decisions/{id}/cancel', tag: 'personnel-decisions',
      summary: 'Cancel a decision that has not taken effect yet; it will never be applied',
      params: idParams, response: personnelDecision,
      handler: async ({ params, context }) => toPersonnelDecision(await cancelPersonnelDecision(deps, context, params.id)),
    }),
    defineRoute({
      method: 'get', path: '/org-units/{id}/inactivity-policy', tag: 'org-units',
      summary: 'The unit\'s own inactivity settings (null: as the unit above) and what applies there',
      params: idParams, response: inactivityPolicy,
      handler: async ({ params, context }) => getUnitInactivityPolicy(deps, context, params.id),
    }),
    defineRoute({
      method: 'put', path: '/org-units/{id}/inactivity-policy', tag: 'org-units',
      summary: 'Days without a login before a warning mail and before suspension, for the unit\'s subtree (0: off; null: as the unit above)',
      params: idParams, body: unitInactivityPolicySchema, response: inactivityPolicy,
      handler: async ({ params, body, context }) => setUnitInactivity(deps, context, params.id, body),
    }),
  ];
}
