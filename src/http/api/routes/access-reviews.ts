import { z } from 'zod';

import type { AccessReviewRow, ReviewItemRow } from '../../../db/queries/access-reviews.ts';
import {
  accessReviewReport, accessReviewSchema, closeAccessReview, decideReviewItems, getAccessReview, itemsOfReviewer, listReviewsInScope,
  reviewDecisionsSchema, startAccessReview, type AccessReviewDeps,
} from '../../../domain/access-reviews.ts';
import { idSchema } from '../../../domain/person-fields.ts';
import { spreadsheetCsv } from '../../csv.ts';
import { defineRoute, type ApiRoute } from '../route.ts';

const accessReview = z.object({
  id: z.string(), name: z.string(), status: z.enum(['open', 'closed']),
  client_id: z.string().nullable(), app_name: z.string().nullable(), org_unit_id: z.string().nullable(), unit_name: z.string().nullable(),
  reviewers: z.enum(['unit_admins', 'named']), default_decision: z.enum(['keep', 'revoke']), due_at: z.string(),
  items: z.number().int(), decided: z.number().int(), revoked: z.number().int(),
  created_at: z.string(), closed_at: z.string().nullable(),
});

const reviewItem = z.object({
  id: z.string(), review_id: z.string(), user_id: z.string(), username: z.string(), full_name: z.string(), unit_name: z.string().nullable(),
  client_id: z.string(), app_name: z.string(), roles: z.array(z.string()),
  granted_via: z.array(z.object({ kind: z.enum(['unit', 'group', 'person']), name: z.string() })),
  last_login_at: z.string().nullable(), decision: z.enum(['keep', 'revoke']).nullable(), comment: z.string().nullable(),
  decided_by: z.string().nullable(), decided_at: z.string().nullable(), decided_by_default: z.boolean(), reviewers: z.string().nullable(),
});

const toAccessReview = (row: AccessReviewRow) => ({
  id: row.id, name: row.name, status: row.status, client_id: row.client_id, app_name: row.app_name, org_unit_id: row.org_unit_id, unit_name: row.unit_name,
  reviewers: row.reviewers, default_decision: row.default_decision, due_at: row.due_at.toISOString(),
  items: row.items, decided: row.decided, revoked: row.revoked, created_at: row.created_at.toISOString(), closed_at: row.closed_at?.toISOString() ?? null,
});

const toReviewItem = (row: ReviewItemRow) => ({
  id: row.id, review_id: row.review_id, user_id: row.user_id, username: row.username, full_name: row.full_name, unit_name: row.unit_name,
  client_id: row.client_id, app_name: row.app_name, roles: row.roles, granted_via: row.granted_via, last_login_at: row.last_login_at?.toISOString() ?? null,
  decision: row.decision, comment: row.comment, decided_by: row.decided_by_name, decided_at: row.decided_at?.toISOString() ?? null,
  decided_by_default: row.decided_by_default, reviewers: row.reviewer_names,
});

const idParams = z.object({ id: idSchema });

export function accessReviewRoutes(deps: AccessReviewDeps): ApiRoute[] {
  return [
    defineRoute({
      method: 'get', path: '/access-reviews', tag: 'access reviews', summary: 'Access review campaigns over the part of the org tree you manage or audit',
      response: z.object({ items: z.array(accessReview) }),
      handler: async ({ context }) => ({ items: (await listReviewsInScope(deps, context)).map(toAccessReview) }),
    }),
    defineRoute({
      method: 'post', path: '/access-reviews', tag: 'access reviews', status: 201,
      summary: 'Start a campaign over one restricted app, over every restricted app in a subtree, or both; reviewers are the people\'s nearest unit admins or named people',
      body: accessReviewSchema, response: accessReview,
      handler: async ({ body, context }) => toAccessReview(await startAccessReview(deps, context, body)),
    }),
    defineRoute({
      method: 'get', path: '/access-reviews/{id}', tag: 'access reviews', summary: 'A campaign and every item in it',
      params: idParams, response: accessReview.extend({ item_list: z.array(reviewItem) }),
      handler: async ({ params, context }) => {
        const { review, items } = await getAccessReview(deps, context, params.id);
        return { ...toAccessReview(review), item_list: items.map(toReviewItem) };
      },
    }),
    defineRoute({
      method: 'get', path: '/access-reviews/{id}/report', tag: 'access reviews', summary: 'The campaign\'s result as CSV, for an inspector to file',
      params: idParams, response: z.string(), alsoProduces: ['text/csv'],
      handler: async ({ params, context }) => {
        const { header, rows } = await accessReviewReport(deps, context, params.id);
        return { raw: spreadsheetCsv(header, rows), type: 'text/csv; charset=utf-8', filename: `access-review-${params.id}.csv` };
      },
    }),
    defineRoute({
      method: 'post', path: '/access-reviews/{id}/close', tag: 'access reviews',
      summary: 'Close now: undecided items take the campaign\'s default, and every revocation takes effect',
      params: idParams, response: z.object({ kept: z.number().int(), revoked: z.number().int(), decided_by_default: z.number().int() }),
      handler: async ({ params, context }) => {
        const outcome = await closeAccessReview(deps, context, params.id);
        return { kept: outcome.kept, revoked: outcome.revoked, decided_by_default: outcome.byDefault };
      },
    }),
    defineRoute({
      method: 'get', path: '/access-review-items', tag: 'access reviews', summary: 'The items waiting for you, as a reviewer, in open campaigns',
      query: z.object({ review_id: idSchema.optional(), undecided: z.enum(['true', 'false']).default('false') }),
      response: z.object({ items: z.array(reviewItem) }),
      handler: async ({ query, context }) => ({
        items: (await itemsOfReviewer(deps, context, { ...(query.review_id === undefined ? {} : { reviewId: query.review_id }), undecidedOnly: query.undecided === 'true' })).map(toReviewItem),
      }),
    }),
    defineRoute({
      method: 'post', path: '/access-review-items/decisions', tag: 'access reviews',
      summary: 'Keep or revoke items you review, with an optional comment; you can change your mind until the campaign closes',
      body: reviewDecisionsSchema, response: z.object({ decided: z.number().int() }),
      handler: async ({ body, context }) => ({ decided: await decideReviewItems(deps, context, body) }),
    }),
  ];
}
