import type Router from '@koa/router';
import type { Context, Middleware } from 'koa';
import { z } from 'zod';

import { listOrgUnits } from '../../db/queries/org-units.ts';
import type { PersonnelDecisionRow } from '../../db/queries/personnel-decisions.ts';
import type { UserDetail } from '../../db/queries/users.ts';
import { personnelDecisionKinds } from '../../db/schema.ts';
import { scopeOf, subtreeFilter } from '../../domain/authorization.ts';
import {
  cancelPersonnelDecision, listPersonnelDecisionsInScope, mayRecordDecisions, newPersonnelDecisionSchema, recordPersonnelDecision,
} from '../../domain/personnel-decisions.ts';
import { getUser } from '../../domain/users.ts';
import type { Translate } from '../../i18n/catalog.ts';
import { requireCsrfToken } from '../csrf.ts';
import { formBody } from '../forms.ts';
import { bodyOf, contextOf, done, fieldErrors, refusedAsForm, render, type AdminConsoleDeps } from './pages.ts';

/** Rows shown in each of the lists. */
const listSize = 200;

/** The decision form as the browser sends it: text, empty for "none". */
const decisionForm = z.object({
  kind: z.string().max(40).default(''),
  decision_number: z.string().max(200).default(''),
  decision_date: z.string().max(40).default(''),
  effective_date: z.string().max(40).default(''),
  org_unit_id: z.string().max(64).default(''),
  position: z.string().max(400).default(''),
  note: z.string().max(2000).default(''),
});
type DecisionForm = z.infer<typeof decisionForm>;

const decisionView = (t: Translate) => (decision: PersonnelDecisionRow) => ({ ...decision, kindLabel: t(`admin.decision.kind.${decision.kind}`) });

/**
 * Personnel decisions: the list of those waiting for their date (each may be cancelled) and of
 * those applied, and the form, reached from a person's page, that records one for them.
 */
export function mountDecisions(router: Router, deps: AdminConsoleDeps, guard: Middleware[]): void {
  const forms = formBody();
  const domainDeps = { ...deps, moverGraceDays: deps.governance.moverGraceDays };

  router.get('/decisions', ...guard, async (ctx) => {
    const context = contextOf(ctx);
    const [pending, applied] = await Promise.all([
      listPersonnelDecisionsInScope(deps, context, { status: 'pending', limit: listSize }),
      listPersonnelDecisionsInScope(deps, context, { status: 'applied', limit: listSize }),
    ]);
    render(deps, ctx, 'admin/decisions', 'admin.decisions.title', (t) => ({
      pending: pending.map(decisionView(t)),
      // The most recent first: what happened lately is what admins look for.
      applied: applied.reverse().map(decisionView(t)),
    }));
  });

  router.post('/decisions/:id/cancel', forms, requireCsrfToken, ...guard, async (ctx) => {
    await cancelPersonnelDecision(deps, contextOf(ctx), ctx.params['id'] ?? '');
    done(ctx, '/admin/decisions', 'decision_cancelled');
  });

  router.get('/users/:id/decisions/new', ...guard, async (ctx) => {
    const user = await getUser(deps, contextOf(ctx), ctx.params['id'] ?? '');
    await renderDecisionForm(deps, ctx, user, decisionForm.parse({}), {});
  });

  router.post('/users/:id/decisions', forms, requireCsrfToken, ...guard, async (ctx) => {
    const context = contextOf(ctx);
    const user = await getUser(deps, context, ctx.params['id'] ?? '');
    const form = decisionForm.catch(decisionForm.parse({})).parse(bodyOf(ctx));
    const parsed = newPersonnelDecisionSchema.safeParse({
      kind: form.kind, user_id: user.id, decision_number: form.decision_number, decision_date: form.decision_date, effective_date: form.effective_date,
      org_unit_id: form.org_unit_id || undefined, position: form.position.trim() || undefined, note: form.note.trim() || undefined,
    });
    if (!parsed.success) {
      ctx.status = 400;
      await renderDecisionForm(deps, ctx, user, form, fieldErrors(ctx, parsed.error));
      return;
    }
    const recorded = await refusedAsForm(ctx, () => recordPersonnelDecision(domainDeps, context, parsed.data),
      (message) => renderDecisionForm(deps, ctx, user, form, { _form: message }));
    if (recorded) done(ctx, '/admin/decisions', 'decision_recorded');
  });
}

async function renderDecisionForm(deps: AdminConsoleDeps, ctx: Context, user: UserDetail, form: DecisionForm, errors: Record<string, string>): Promise<void> {
  const context = contextOf(ctx);
  const units = mayRecordDecisions(context, user.org_unit?.path ?? null)
    ? await listOrgUnits(deps.db, { subtrees: subtreeFilter(scopeOf(context.principal, 'users.write')), status: 'active', limit: 2000 })
    : [];
  render(deps, ctx, 'admin/decision-form', 'admin.decisions.new_title', (t) => ({
    user, form, errors, units,
    kinds: personnelDecisionKinds.map((kind) => ({ kind, label: t(`admin.decision.kind.${kind}`) })),
  }));
}
