import type Router from '@koa/router';
import type { Context, Middleware } from 'koa';
import { z } from 'zod';

import type { UnitInactivityPolicy } from '../../db/queries/inactivity.ts';
import { getUnitInactivityPolicy, setUnitInactivity, unitInactivityPolicySchema, type InactivityDeps } from '../../domain/inactivity-policy.ts';
import { getOrgUnit } from '../../domain/org-units.ts';
import { requireCsrfToken } from '../csrf.ts';
import { formBody } from '../forms.ts';
import { bodyOf, contextOf, done, fieldErrors, render, type AdminConsoleDeps } from './pages.ts';

/** The form as sent: digits, or empty for "as the unit above". */
const policyForm = z.object({ warn_days: z.string().max(20).default(''), suspend_days: z.string().max(20).default('') });
type PolicyForm = z.infer<typeof policyForm>;

const asDays = (value: string) => (value.trim() === '' ? null : /^\d+$/.test(value.trim()) ? Number(value.trim()) : value);

/** A unit's inactivity policy: its own settings for its subtree, and what applies there with the units above and the default. */
export function mountInactivityPolicy(router: Router, deps: AdminConsoleDeps, guard: Middleware[]): void {
  const forms = formBody();
  const policyDeps: InactivityDeps = { ...deps, inactivityDefaults: deps.governance.inactivity };

  router.get('/org-units/:id/inactivity', ...guard, async (ctx) => {
    const policy = await getUnitInactivityPolicy(policyDeps, contextOf(ctx), ctx.params['id'] ?? '');
    await renderPolicy(deps, ctx, ctx.params['id'] ?? '', policy, { warn_days: policy.warn_days?.toString() ?? '', suspend_days: policy.suspend_days?.toString() ?? '' }, {});
  });

  router.post('/org-units/:id/inactivity', forms, requireCsrfToken, ...guard, async (ctx) => {
    const id = ctx.params['id'] ?? '';
    const form = policyForm.catch(policyForm.parse({})).parse(bodyOf(ctx));
    const parsed = unitInactivityPolicySchema.safeParse({ warn_days: asDays(form.warn_days), suspend_days: asDays(form.suspend_days) });
    if (!parsed.success) {
      ctx.status = 400;
      await renderPolicy(deps, ctx, id, await getUnitInactivityPolicy(policyDeps, contextOf(ctx), id), form, fieldErrors(ctx, parsed.error));
      return;
    }
    await setUnitInactivity(policyDeps, contextOf(ctx), id, parsed.data);
    done(ctx, `/admin/org-units/${id}/inactivity`, 'inactivity_saved');
  });
}

async function renderPolicy(
  deps: AdminConsoleDeps, ctx: Context, unitId: string, policy: UnitInactivityPolicy, form: PolicyForm, errors: Record<string, string>,
): Promise<void> {
  const unit = await getOrgUnit(deps, contextOf(ctx), unitId);
  render(deps, ctx, 'admin/inactivity-policy', 'admin.inactivity.title', { unit, policy, form, errors });
}
