import type Router from '@koa/router';
import type { Context, Middleware } from 'koa';
import { z } from 'zod';

import { countPeopleInSubtree, listOrgUnits, type OrgUnitWithCounts } from '../../db/queries/org-units.ts';
import { orgUnitKinds, type OrgUnit } from '../../db/schema.ts';
import { scopeCovers, scopeOf, subtreeFilter } from '../../domain/authorization.ts';
import { createOrgUnit, getOrgUnit, listOrgUnitsInScope, newOrgUnitSchema, orgUnitPatchSchema, updateOrgUnit } from '../../domain/org-units.ts';
import type { Translate } from '../../i18n/catalog.ts';
import { requireCsrfToken } from '../csrf.ts';
import { formBody } from '../forms.ts';
import { bodyOf, contextOf, done, fieldErrors, refusedAsForm, render, type AdminConsoleDeps } from './pages.ts';

/** Units in one tree: a province has a few hundred; more than this and the page lists the first ones. */
const treeLimit = 5000;

/** A field left out of the post is left as it is; the box is the exception, since a browser leaves out an unticked one. */
const unitForm = z.object({
  code: z.string().max(100).optional(),
  name: z.string().max(400).optional(),
  kind: z.string().max(40).optional(),
  parent_id: z.string().max(64).optional(),
  status: z.string().max(20).optional(),
  mfa_required: z.string().max(8).optional(),
  version: z.string().max(12).default(''),
});
type UnitForm = z.infer<typeof unitForm>;

export type TreeNode<Unit extends { id: string; parent_id: string | null } = OrgUnitWithCounts> = Unit & { readonly children: TreeNode<Unit>[] };

/**
 * The flat list (each parent before its children) as a forest: a unit whose parent is out of scope
 * is a root. The units of today's tree, or of the tree as it stood (reorganization history).
 */
export function toForest<Unit extends { id: string; parent_id: string | null }>(units: readonly Unit[]): TreeNode<Unit>[] {
  const nodes = new Map(units.map((unit) => [unit.id, { ...unit, children: [] as TreeNode<Unit>[] }]));
  const roots: TreeNode<Unit>[] = [];
  for (const node of nodes.values()) {
    const parent = node.parent_id === null ? undefined : nodes.get(node.parent_id);
    if (parent) parent.children.push(node);
    else roots.push(node);
  }
  return roots;
}

/**
 * The org tree: every unit in the admin's scope, folded and unfolded without script (details and
 * summary), with head counts; a unit's page renames, recodes, moves, closes or reopens it, sets its
 * second-factor policy, and creates units below it. The domain decides who may do which.
 */
export function mountOrgTree(router: Router, deps: AdminConsoleDeps, guard: Middleware[]): void {
  const forms = formBody();

  router.get('/org-units', ...guard, async (ctx) => {
    const units = await listOrgUnitsInScope(deps, contextOf(ctx), { limit: treeLimit });
    render(deps, ctx, 'admin/org-units', 'admin.org.title', (t) => ({ roots: toForest(units), kinds: kindLabels(t) }));
  });

  router.get('/org-units/:id', ...guard, async (ctx) => {
    const unit = await getOrgUnit(deps, contextOf(ctx), ctx.params['id'] ?? '');
    await renderUnit(deps, ctx, unit, formOf(unit), {});
  });

  router.post('/org-units', forms, requireCsrfToken, ...guard, async (ctx) => {
    const form = formFrom(ctx);
    const parent = form.parent_id ? await getOrgUnit(deps, contextOf(ctx), form.parent_id) : null;
    const parsed = newOrgUnitSchema.safeParse({ code: form.code ?? '', name: form.name ?? '', kind: form.kind ?? '', parent_id: parent?.id ?? null });
    const back = async (errors: Record<string, string>) => {
      if (parent) await renderUnit(deps, ctx, parent, formOf(parent), {}, { childForm: form, childErrors: errors });
      else await renderTree(deps, ctx);
    };
    if (!parsed.success) {
      ctx.status = 400;
      await back(fieldErrors(ctx, parsed.error));
      return;
    }
    const created = await refusedAsForm(ctx, () => createOrgUnit(deps, contextOf(ctx), parsed.data), (message) => back({ _form: message }));
    if (created) done(ctx, `/admin/org-units/${created.id}`, 'unit_created');
  });

  router.post('/org-units/:id', forms, requireCsrfToken, ...guard, async (ctx) => {
    const context = contextOf(ctx);
    const unit = await getOrgUnit(deps, context, ctx.params['id'] ?? '');
    const form = formFrom(ctx);
    const parsed = orgUnitPatchSchema.safeParse(toPatch(form, unit));
    if (!parsed.success) {
      ctx.status = 400;
      await renderUnit(deps, ctx, unit, form, fieldErrors(ctx, parsed.error));
      return;
    }
    const version = Number.parseInt(form.version, 10);
    const updated = await refusedAsForm(ctx, () => updateOrgUnit(deps, context, unit.id, Number.isSafeInteger(version) ? version : undefined, parsed.data),
      async (message) => renderUnit(deps, ctx, await getOrgUnit(deps, context, unit.id), form, { _form: message }));
    if (updated) done(ctx, `/admin/org-units/${unit.id}`, 'unit_saved');
  });
}

function formFrom(ctx: Context): UnitForm {
  const parsed = unitForm.safeParse(bodyOf(ctx));
  return parsed.success ? parsed.data : unitForm.parse({});
}

function formOf(unit: OrgUnit): UnitForm {
  return {
    code: unit.code, name: unit.name, kind: unit.kind, parent_id: unit.parent_id ?? '', status: unit.status,
    mfa_required: unit.mfa_required ? 'on' : undefined, version: String(unit.version),
  };
}

/** Only what differs from the unit as it is now; an unticked box is "off". */
function toPatch(form: UnitForm, unit: OrgUnit): Record<string, unknown> {
  const patch: Record<string, unknown> = {};
  if (form.code !== undefined && form.code.trim() !== unit.code) patch['code'] = form.code;
  if (form.name !== undefined && form.name.trim() !== unit.name) patch['name'] = form.name;
  if (form.kind && form.kind !== unit.kind) patch['kind'] = form.kind;
  if (form.parent_id && form.parent_id !== unit.parent_id) patch['parent_id'] = form.parent_id;
  if (form.status && form.status !== unit.status) patch['status'] = form.status;
  if ((form.mfa_required === 'on') !== unit.mfa_required) patch['mfa_required'] = form.mfa_required === 'on';
  return patch;
}

const kindLabels = (t: Translate) => Object.fromEntries(orgUnitKinds.map((kind) => [kind, t(`admin.org.kind.${kind}`)]));

async function renderTree(deps: AdminConsoleDeps, ctx: Context): Promise<void> {
  const units = await listOrgUnitsInScope(deps, contextOf(ctx), { limit: treeLimit });
  render(deps, ctx, 'admin/org-units', 'admin.org.title', (t) => ({ roots: toForest(units), kinds: kindLabels(t) }));
}

async function renderUnit(
  deps: AdminConsoleDeps,
  ctx: Context,
  unit: OrgUnit,
  form: UnitForm,
  errors: Record<string, string>,
  child: { childForm?: UnitForm; childErrors?: Record<string, string> } = {},
): Promise<void> {
  const context = contextOf(ctx);
  const writable = scopeOf(context.principal, 'org_units.write');
  const parentPath = unit.parent_id === null ? null : unit.path.slice(0, unit.path.length - unit.id.length - 1);
  const [people, children, places] = await Promise.all([
    countPeopleInSubtree(deps.db, unit.path),
    listOrgUnits(deps.db, { subtrees: [unit.path], parentId: unit.id, limit: treeLimit }),
    // Where it could move: open units the admin may write to, outside its own subtree.
    listOrgUnits(deps.db, { subtrees: subtreeFilter(writable), status: 'active', limit: treeLimit }),
  ]);
  render(deps, ctx, 'admin/org-unit', 'admin.org.unit_title', (t) => ({
    unit, form, errors, people, children,
    places: places.filter((place) => !place.path.startsWith(unit.path)),
    kinds: kindLabels(t),
    mayEdit: scopeCovers(writable, parentPath),
    mayAddChild: scopeCovers(writable, unit.path) && unit.status === 'active',
    childForm: child.childForm ?? { code: '', name: '', kind: 'unit' },
    childErrors: child.childErrors ?? {},
  }));
}
