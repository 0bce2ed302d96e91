import type Router from '@koa/router';
import type { Context, Middleware } from 'koa';
import { z } from 'zod';

import { listDeclaredAppRoles } from '../../db/queries/app-access.ts';
import { scopeOf } from '../../domain/authorization.ts';
import { createRule, listRules, removeRule, sodRuleSchema } from '../../domain/separation-of-duties.ts';
import { requireCsrfToken } from '../csrf.ts';
import { formBody } from '../forms.ts';
import { bodyOf, contextOf, done, fieldErrors, refusedAsForm, render, type AdminConsoleDeps } from './pages.ts';

/** A role in a form: "<client id> <role>", as the choices are written. */
const roleChoice = z.string().max(300).default('').transform((value) => {
  const at = value.lastIndexOf(' ');
  return at < 0 ? { client_id: '', role: '' } : { client_id: value.slice(0, at), role: value.slice(at + 1) };
});
const ruleForm = z.object({
  name: z.string().max(400).default(''),
  description: z.string().max(2000).default(''),
  first: z.string().max(300).default(''),
  second: z.string().max(300).default(''),
});

/**
 * Separation of duties in the console: the rules, a form to add one (global administrators), and a
 * link to the report of who breaks them today. Grants that would break a rule are refused where
 * they are made (app assignments, group membership).
 */
export function mountSeparationOfDuties(router: Router, deps: AdminConsoleDeps, guard: Middleware[]): void {
  const forms = formBody();

  router.get('/sod-rules', ...guard, async (ctx) => {
    await renderRules(deps, ctx, ruleForm.parse({}), {});
  });

  router.post('/sod-rules', forms, requireCsrfToken, ...guard, async (ctx) => {
    const form = ruleForm.safeParse(bodyOf(ctx));
    const values = form.success ? form.data : ruleForm.parse({});
    const parsed = sodRuleSchema.safeParse({
      name: values.name, description: values.description.trim() || null, first: roleChoice.parse(values.first), second: roleChoice.parse(values.second),
    });
    if (!parsed.success) {
      ctx.status = 400;
      await renderRules(deps, ctx, values, fieldErrors(ctx, parsed.error));
      return;
    }
    const created = await refusedAsForm(ctx, () => createRule(deps, contextOf(ctx), parsed.data), (message) => renderRules(deps, ctx, values, { _form: message }));
    if (created) done(ctx, '/admin/sod-rules', 'sod_rule_created');
  });

  router.post('/sod-rules/:id/delete', forms, requireCsrfToken, ...guard, async (ctx) => {
    await removeRule(deps, contextOf(ctx), ctx.params['id'] ?? '');
    done(ctx, '/admin/sod-rules', 'sod_rule_deleted');
  });
}

async function renderRules(deps: AdminConsoleDeps, ctx: Context, form: z.output<typeof ruleForm>, errors: Record<string, string>): Promise<void> {
  const context = contextOf(ctx);
  const rules = await listRules(deps, context);
  const mayWrite = scopeOf(context.principal, 'apps.assign').global;
  const roles = mayWrite ? await listDeclaredAppRoles(deps.db) : [];
  render(deps, ctx, 'admin/sod-rules', 'admin.sod.title', {
    rules, mayWrite, form, errors,
    roles: roles.map((role) => ({ value: `${role.client_id} ${role.name}`, label: `${role.app_name}: ${role.name}` })),
  });
}
