import type Router from '@koa/router';
import type { Context, Middleware } from 'koa';
import { z } from 'zod';

import { orgUnitKinds, type ReorganizationPlan } from '../../db/schema.ts';
import { scopeOf } from '../../domain/authorization.ts';
import {
  cancelReorganizationPlan, changeReorganizationSteps, createReorganizationPlan, getReorganizationPlan, listReorganizationPlansInScope, orgTreeAsItStood, vietnamDate, newReorganizationPlanSchema,
  reorganizationDryRun, scheduleReorganizationPlan, stepsOf,
} from '../../domain/reorganization-plans.ts';
import type { ReorganizationReport } from '../../domain/reorganization-report.ts';
import { reorganizationStepSchema } from '../../domain/reorganization-steps.ts';
import { AppError, assertThat } from '../../errors.ts';
import { requireCsrfToken } from '../csrf.ts';
import { formBody } from '../forms.ts';
import { reorganizationReportCsv } from '../reorganization-csv.ts';
import { toForest } from './org-tree.ts';
import { bodyOf, contextOf, done, fieldErrors, formProblemsIn, messageOnPage, refusedAsForm, render, type AdminConsoleDeps } from './pages.ts';

/** Plans listed on the page; a province has a handful a year. */
const listLimit = 200;
/** People shown in the dry run's table; a province-wide reform touches thousands, and the CSV has them all. */
const shownPeople = 500;

const stepForm = z.object({
  kind: z.string().max(40).default(''),
  decision_number: z.string().max(200).default(''),
  decision_date: z.string().max(20).default(''),
  units: z.string().max(20_000).default(''),
  into: z.string().max(100).default(''),
  name: z.string().max(400).default(''),
  code: z.string().max(100).default(''),
  level_kind: z.string().max(40).default(''),
  within: z.string().max(100).default(''),
  parts: z.string().max(20_000).default(''),
  mapping: z.string().max(200_000).default(''),
});
type StepForm = z.infer<typeof stepForm>;

const words = (text: string) => text.split(/[\s,;]+/u).filter(Boolean);
const lines = (text: string) => text.split(/\r?\n/u).map((line) => line.trim()).filter(Boolean);
const optional = (text: string) => (text.trim() === '' ? undefined : text);

/** "A = B" lines as a record; a split's lines say what they map: "person USERNAME = PART", "unit CODE = PART", "group NAME = PART". */
function mappingOf(text: string, prefix?: string): Record<string, string> {
  const entries: [string, string][] = [];
  for (const line of lines(text)) {
    const [left, right] = line.split('=').map((side) => side.trim());
    if (!left || !right) continue;
    if (prefix === undefined) entries.push([left, right]);
    else if (left.toLowerCase().startsWith(`${prefix} `)) entries.push([left.slice(prefix.length + 1).trim(), right]);
  }
  return Object.fromEntries(entries);
}

/** The step form as the API's step, for the same schema to judge. */
function stepFrom(form: StepForm): unknown {
  const decision = { kind: form.kind, decision_number: form.decision_number, decision_date: form.decision_date };
  const [unit = ''] = words(form.units);
  switch (form.kind) {
    case 'merge': return { ...decision, units: words(form.units), into: form.into, name: optional(form.name), code: optional(form.code) };
    case 'split': return {
      ...decision, unit, default_part: form.into,
      parts: lines(form.parts).map((line) => {
        const [code = '', ...name] = line.split('|');
        return { code: code.trim(), name: name.join('|').trim() };
      }),
      people: mappingOf(form.mapping, 'person'), children: mappingOf(form.mapping, 'unit'), groups: mappingOf(form.mapping, 'group'),
    };
    case 'abolish_level': return { ...decision, level_kind: form.level_kind, within: optional(form.within), successors: mappingOf(form.mapping) };
    case 'rename': return { ...decision, unit, name: form.name };
    case 'recode': return { ...decision, unit, code: form.code };
    default: return decision;
  }
}

const confirmed = (ctx: Context) => (bodyOf(ctx) as { confirm?: unknown }).confirm === 'yes';
const versionOf = (ctx: Context) => {
  const { version } = bodyOf(ctx) as { version?: unknown };
  const parsed = typeof version === 'string' ? Number.parseInt(version, 10) : Number.NaN;
  return Number.isSafeInteger(parsed) ? parsed : undefined;
};

/**
 * Reorganization plans in the console: the list, a plan's steps and its dry run as tables (units,
 * people and their apps, groups, rights carried over, losses, gains), adding and removing steps of
 * a draft, and scheduling or cancelling with a confirmation that says what will happen. Every
 * action calls the same domain functions as the API, which decide who may.
 */
export function mountReorganization(router: Router, deps: AdminConsoleDeps, guard: Middleware[]): void {
  const forms = formBody();

  router.get('/reorganization', ...guard, async (ctx) => renderList(deps, ctx, {}, {}));

  router.post('/reorganization', forms, requireCsrfToken, ...guard, async (ctx) => {
    const form = z.object({ name: z.string().max(400).default(''), effective_date: z.string().max(20).default('') }).catch({ name: '', effective_date: '' }).parse(bodyOf(ctx));
    const parsed = newReorganizationPlanSchema.safeParse({ ...form, steps: [] });
    if (!parsed.success) {
      ctx.status = 400;
      await renderList(deps, ctx, form, { _form: Object.values(fieldErrors(ctx, parsed.error)).join(' ') });
      return;
    }
    const plan = await refusedAsForm(ctx, () => createReorganizationPlan(deps, contextOf(ctx), parsed.data), (message) => renderList(deps, ctx, form, { _form: message }));
    if (plan) done(ctx, `/admin/reorganization/${plan.id}`, 'plan_created');
  });

  router.get('/reorganization/history', ...guard, async (ctx) => {
    const at = typeof ctx.query['at'] === 'string' && /^\d{4}-\d{2}-\d{2}$/.test(ctx.query['at']) ? ctx.query['at'] : vietnamDate(new Date());
    const units = await orgTreeAsItStood(deps, contextOf(ctx), at);
    render(deps, ctx, 'admin/org-tree-history', 'admin.reorg.history_title', (t) => ({
      at, roots: toForest(units),
      kinds: Object.fromEntries(orgUnitKinds.map((kind) => [kind, t(`admin.org.kind.${kind}`)])),
    }));
  });

  router.get('/reorganization/:id', ...guard, async (ctx) => renderPlan(deps, ctx, ctx.params['id'] ?? '', stepForm.parse({}), null));

  router.post('/reorganization/:id/steps', forms, requireCsrfToken, ...guard, async (ctx) => {
    const id = ctx.params['id'] ?? '';
    const form = stepForm.catch(stepForm.parse({})).parse(bodyOf(ctx));
    const parsed = reorganizationStepSchema.safeParse(stepFrom(form));
    if (!parsed.success) {
      ctx.status = 400;
      await renderPlan(deps, ctx, id, form, formProblemsIn(ctx, parsed.error, form.kind || 'kind'));
      return;
    }
    const plan = await refusedAsForm(ctx, () => changeReorganizationSteps(deps, contextOf(ctx), id, versionOf(ctx), { step: parsed.data }), (message) => renderPlan(deps, ctx, id, form, message));
    if (plan) done(ctx, `/admin/reorganization/${plan.id}`, 'step_added');
  });

  router.post('/reorganization/:id/steps/:number/remove', forms, requireCsrfToken, ...guard, async (ctx) => {
    const number = Number.parseInt(ctx.params['number'] ?? '', 10);
    assertThat(Number.isSafeInteger(number) && number >= 1, () => new AppError('not_found', 'no such step', 404));
    const id = ctx.params['id'] ?? '';
    const plan = await refusedAsForm(ctx, () => changeReorganizationSteps(deps, contextOf(ctx), id, versionOf(ctx), { removeIndex: number - 1 }), (message) => renderPlan(deps, ctx, id, stepForm.parse({}), message));
    if (plan) done(ctx, `/admin/reorganization/${plan.id}`, 'step_removed');
  });

  for (const [action, change, notice] of [['schedule', scheduleReorganizationPlan, 'plan_scheduled'], ['cancel', cancelReorganizationPlan, 'plan_cancelled']] as const) {
    router.post(`/reorganization/:id/${action}`, forms, requireCsrfToken, ...guard, async (ctx) => {
      const id = ctx.params['id'] ?? '';
      if (!confirmed(ctx)) {
        ctx.status = 400;
        await renderPlan(deps, ctx, id, stepForm.parse({}), null, { [action]: true });
        return;
      }
      const plan = await refusedAsForm(ctx, () => change(deps, contextOf(ctx), id, versionOf(ctx)), (message) => renderPlan(deps, ctx, id, stepForm.parse({}), message));
      if (plan) done(ctx, `/admin/reorganization/${plan.id}`, notice);
    });
  }

  router.get('/reorganization/:id/dry-run.csv', ...guard, async (ctx) => {
    const { plan, report } = await reorganizationDryRun(deps, contextOf(ctx), ctx.params['id'] ?? '');
    ctx.type = 'text/csv; charset=utf-8';
    ctx.attachment(`reorganization-${plan.id}.csv`);
    ctx.set('Cache-Control', 'no-store');
    ctx.body = reorganizationReportCsv(report);
  });
}

async function renderList(deps: AdminConsoleDeps, ctx: Context, form: Record<string, string>, errors: Record<string, string>): Promise<void> {
  const context = contextOf(ctx);
  const plans = await listReorganizationPlansInScope(deps, context, { limit: listLimit });
  render(deps, ctx, 'admin/reorganization-plans', 'admin.reorg.title', {
    plans: plans.sort((a, b) => b.effective_date.localeCompare(a.effective_date)),
    form: { name: form['name'] ?? '', effective_date: form['effective_date'] ?? '' }, errors,
    mayPlan: scopeOf(context.principal, 'org_units.reorganize').global,
  });
}

async function renderPlan(deps: AdminConsoleDeps, ctx: Context, id: string, form: StepForm, error: string | null, unconfirmed: Record<string, boolean> = {}): Promise<void> {
  const context = contextOf(ctx);
  const { plan, report, problem } = await reorganizationDryRun(deps, context, id)
    .then((found): { plan: ReorganizationPlan; report: ReorganizationReport | null; problem: string | null } => ({ ...found, problem: null }))
    .catch(async (failure: unknown) => {
      // A plan the tree no longer allows (a unit closed meanwhile) still shows, with the reason its dry run fails.
      if (!(failure instanceof AppError) || failure.code !== 'invalid_plan') throw failure;
      return { plan: await getReorganizationPlan(deps, context, id), report: null, problem: messageOnPage(ctx, failure) };
    });
  const mayPlan = scopeOf(context.principal, 'org_units.reorganize').global;
  render(deps, ctx, 'admin/reorganization-plan', 'admin.reorg.plan_title', (t) => ({
    plan, steps: stepsOf(plan), report, problem, error, form, unconfirmed,
    people: report?.people.slice(0, shownPeople) ?? [], morePeople: Math.max(0, (report?.people.length ?? 0) - shownPeople),
    kinds: Object.fromEntries(orgUnitKinds.map((kind) => [kind, t(`admin.org.kind.${kind}`)])),
    mayEdit: mayPlan && plan.status === 'draft',
    maySchedule: mayPlan && plan.status === 'draft' && report !== null && report.sod_conflicts.length === 0 && plan.steps.length > 0,
    mayCancel: mayPlan && (plan.status === 'draft' || plan.status === 'scheduled'),
    roles: (value: string[] | null) => (value === null ? '—' : value.length === 0 ? '✓' : value.join(', ')),
  }));
}
