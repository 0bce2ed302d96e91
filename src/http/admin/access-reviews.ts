import type Router from '@koa/router';
import type { Context, Middleware } from 'koa';
import { z } from 'zod';

import { listClients } from '../../db/queries/clients.ts';
import { listOrgUnits } from '../../db/queries/org-units.ts';
import {
  accessReviewReport, accessReviewSchema, closeAccessReview, decideReviewItems, getAccessReview, itemsOfReviewer, listReviewsInScope,
  reviewDecisionsSchema, startAccessReview,
} from '../../domain/access-reviews.ts';
import { isPermitted, scopeOf, subtreeFilter } from '../../domain/authorization.ts';
import { invalidInput, localizable } from '../../errors.ts';
import { requireCsrfToken } from '../csrf.ts';
import { sendCsvDownload, spreadsheetCsv } from '../csv.ts';
import { formBody } from '../forms.ts';
import { bodyOf, contextOf, done, fieldErrors, invalidForm, refusedAsForm, render, type AdminConsoleDeps } from './pages.ts';

const campaignForm = z.object({
  name: z.string().max(400).default(''),
  client_id: z.string().max(200).default(''),
  org_unit_id: z.string().max(64).default(''),
  reviewers: z.string().max(20).default('unit_admins'),
  reviewer_usernames: z.string().max(4000).default(''),
  due_at: z.string().max(40).default(''),
  default_decision: z.string().max(10).default('keep'),
});

/** Items shown on a campaign's page; the CSV holds them all. */
const shownItems = 500;
/** Items a reviewer decides on one page. */
const itemsPerPage = 100;

/**
 * Access reviews in the console: campaigns (start, follow, close, the CSV report) for those who
 * manage them, and for every reviewer the items waiting for them, kept or revoked in one form.
 */
export function mountAccessReviews(router: Router, deps: AdminConsoleDeps, guard: Middleware[]): void {
  const forms = formBody();

  router.get('/reviews', ...guard, async (ctx) => {
    await renderReviews(deps, ctx, campaignForm.parse({}), {});
  });

  router.post('/reviews', forms, requireCsrfToken, ...guard, async (ctx) => {
    const form = campaignForm.safeParse(bodyOf(ctx));
    const values = form.success ? form.data : campaignForm.parse({});
    const parsed = accessReviewSchema.safeParse({
      name: values.name, client_id: values.client_id || undefined, org_unit_id: values.org_unit_id || undefined, reviewers: values.reviewers,
      reviewer_usernames: values.reviewer_usernames.split(/[\s,;]+/u).filter(Boolean), due_at: values.due_at, default_decision: values.default_decision,
    });
    if (!parsed.success) {
      ctx.status = 400;
      await renderReviews(deps, ctx, values, fieldErrors(ctx, parsed.error));
      return;
    }
    const created = await refusedAsForm(ctx, () => startAccessReview(deps, contextOf(ctx), parsed.data), (message) => renderReviews(deps, ctx, values, { _form: message }));
    if (created) done(ctx, `/admin/reviews/${created.id}`, 'review_started');
  });

  router.get('/reviews/:id', ...guard, async (ctx) => {
    const context = contextOf(ctx);
    const { review, items } = await getAccessReview(deps, context, ctx.params['id'] ?? '');
    const undecided = review.items - review.decided;
    render(deps, ctx, 'admin/review', 'admin.reviews.review_title', (t) => ({
      review, items: items.slice(0, shownItems), more: Math.max(0, items.length - shownItems),
      mayClose: review.status === 'open' && isPermitted(context.principal, 'access_reviews.manage'),
      closeWarning: t('admin.reviews.close_warning', {
        revoked: String(review.revoked), undecided: String(undecided),
        fallback: t(review.default_decision === 'keep' ? 'admin.reviews.kept' : 'admin.reviews.revoked'),
      }),
    }));
  });

  router.get('/reviews/:id/report.csv', ...guard, async (ctx) => {
    const { header, rows } = await accessReviewReport(deps, contextOf(ctx), ctx.params['id'] ?? '');
    sendCsvDownload(ctx, `access-review-${ctx.params['id'] ?? ''}.csv`, spreadsheetCsv(header, rows));
  });

  router.post('/reviews/:id/close', forms, requireCsrfToken, ...guard, async (ctx) => {
    await closeAccessReview(deps, contextOf(ctx), ctx.params['id'] ?? '');
    done(ctx, `/admin/reviews/${ctx.params['id'] ?? ''}`, 'review_closed');
  });

  router.get('/reviews/:id/mine', ...guard, async (ctx) => {
    const items = await itemsOfReviewer(deps, contextOf(ctx), { reviewId: ctx.params['id'] ?? '' });
    render(deps, ctx, 'admin/review-items', 'admin.reviews.mine_title', { reviewId: ctx.params['id'], items: items.slice(0, itemsPerPage), more: Math.max(0, items.length - itemsPerPage) });
  });

  // One form for a page of items: decision_<item id> = keep | revoke, comment_<item id>.
  router.post('/reviews/:id/mine', forms, requireCsrfToken, ...guard, async (ctx) => {
    const body = bodyOf(ctx) as Record<string, unknown>;
    const decisions = Object.entries(body).flatMap(([field, value]) => {
      const match = /^decision_([0-9a-f-]{36})$/.exec(field);
      if (!match) return [];
      const comment = body[`comment_${match[1]!}`];
      return [{ item_id: match[1]!, decision: value, comment: typeof comment === 'string' && comment.trim() ? comment : null }];
    });
    const parsed = reviewDecisionsSchema.safeParse({ decisions });
    if (!parsed.success) throw decisions.length === 0 ? invalidInput(localizable('choose keep or revoke for at least one item', 'problem.review.no_decision')) : invalidForm(ctx, parsed.error);
    await decideReviewItems(deps, contextOf(ctx), parsed.data);
    done(ctx, `/admin/reviews/${ctx.params['id'] ?? ''}/mine`, 'review_decided');
  });
}

async function renderReviews(deps: AdminConsoleDeps, ctx: Context, form: z.output<typeof campaignForm>, errors: Record<string, string>): Promise<void> {
  const context = contextOf(ctx);
  const mayManage = isPermitted(context.principal, 'access_reviews.manage');
  const mayRead = mayManage || isPermitted(context.principal, 'audit.read');
  const [reviews, mine, apps, units] = await Promise.all([
    mayRead ? listReviewsInScope(deps, context) : Promise.resolve([]),
    itemsOfReviewer(deps, context, { undecidedOnly: true }),
    mayManage ? listClients(deps.db) : Promise.resolve([]),
    mayManage ? listOrgUnits(deps.db, { subtrees: subtreeFilter(scopeOf(context.principal, 'access_reviews.manage')), status: 'active', limit: 2000 }) : Promise.resolve([]),
  ]);
  const waiting = new Map<string, { reviewId: string; name: string; due: Date; count: number }>();
  for (const item of mine) {
    waiting.set(item.review_id, { reviewId: item.review_id, name: item.review_name, due: item.review_due_at, count: (waiting.get(item.review_id)?.count ?? 0) + 1 });
  }
  render(deps, ctx, 'admin/reviews', 'admin.reviews.title', {
    reviews, mayRead, mayManage, form, errors, units,
    waiting: [...waiting.values()],
    apps: apps.filter((app) => app.status === 'active' && app.access_policy === 'restricted')
      .map((app) => ({ id: app.client_id, name: (app.metadata['client_name'] as string | undefined) ?? app.client_id })),
  });
}
