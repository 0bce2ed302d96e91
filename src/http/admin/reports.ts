import type Router from '@koa/router';
import type { Context, Middleware } from 'koa';
import { z } from 'zod';

import {
  appAccessMatrix, inactivePeople, peopleWithoutActiveUnit, peopleWithoutSecondFactor, privilegedPeople, type PersonReportRow,
} from '../../db/queries/reports.ts';
import { AccessDenied, isPermitted, scopeOf, subtreeFilter, type AdminContext, type Permission } from '../../domain/authorization.ts';
import { listViolations } from '../../domain/separation-of-duties.ts';
import { localizable } from '../../errors.ts';
import { translator, type MessageKey, type Translate } from '../../i18n/catalog.ts';
import { sendCsvDownload, spreadsheetCsv } from '../csv.ts';
import { pageContext } from '../page.ts';
import { contextOf, render, type AdminConsoleDeps } from './pages.ts';

/** How long without a sign-in counts as inactive, unless the reader asks for another span. */
const defaultInactiveDays = 90;

interface Report {
  readonly title: MessageKey;
  readonly permission: Permission;
  /** Column headings (catalog keys) and the rows, as text, the same for the page and the CSV. */
  load(deps: AdminConsoleDeps, context: AdminContext, ctx: Context, t: Translate): Promise<{ columns: MessageKey[]; rows: (string | null)[][] }>;
}

const personColumns: MessageKey[] = ['account.profile.username', 'admin.field.full_name', 'admin.users.status', 'admin.users.unit', 'admin.user.last_login'];
const personRow = (t: Translate) => (row: PersonReportRow) => [
  row.username, row.full_name, t(`admin.status.${row.status as 'active'}`), row.unit_name ?? row.unit_code, row.last_login_at?.toISOString() ?? null,
];
const scopeFor = (context: AdminContext, permission: Permission) => subtreeFilter(scopeOf(context.principal, permission));

const reports: Record<string, Report> = {
  inactive: {
    title: 'admin.reports.inactive',
    permission: 'users.read',
    async load(deps, context, ctx, t) {
      const days = z.coerce.number().int().min(1).max(3650).catch(defaultInactiveDays).parse(ctx.query['days'] ?? defaultInactiveDays);
      return { columns: personColumns, rows: (await inactivePeople(deps.db, scopeFor(context, 'users.read'), days)).map(personRow(t)) };
    },
  },
  'without-second-factor': {
    title: 'admin.reports.without_second_factor',
    permission: 'users.read',
    async load(deps, context, _ctx, t) {
      return { columns: personColumns, rows: (await peopleWithoutSecondFactor(deps.db, scopeFor(context, 'users.read'))).map(personRow(t)) };
    },
  },
  'without-unit': {
    title: 'admin.reports.without_unit',
    permission: 'users.read',
    async load(deps, context, _ctx, t) {
      return { columns: personColumns, rows: (await peopleWithoutActiveUnit(deps.db, scopeFor(context, 'users.read'))).map(personRow(t)) };
    },
  },
  privileged: {
    title: 'admin.reports.privileged',
    permission: 'roles.read',
    async load(deps, context, _ctx, t) {
      const rows = await privilegedPeople(deps.db, scopeFor(context, 'roles.read'));
      return {
        columns: ['account.profile.username', 'admin.field.full_name', 'admin.users.status', 'admin.user.role', 'admin.user.role_unit'],
        rows: rows.map((row) => [row.username, row.full_name, t(`admin.status.${row.status as 'active'}`), t(`admin.role.${row.role as 'auditor'}`), row.scope_code ?? t('admin.user.role_global')]),
      };
    },
  },
  'app-access': {
    title: 'admin.reports.app_access',
    permission: 'apps.assign',
    async load(deps, context, _ctx, t) {
      const rows = await appAccessMatrix(deps.db, scopeFor(context, 'apps.assign'));
      return {
        columns: ['admin.reports.app', 'admin.reports.policy', 'admin.reports.holder', 'admin.reports.roles'],
        rows: rows.map((row) => [
          row.app_name, t(row.access_policy === 'open' ? 'admin.reports.policy_open' : 'admin.reports.policy_restricted'),
          row.holder_kind === 'everyone' ? t('admin.reports.everyone') : `${t(`admin.reports.holder_${row.holder_kind}`)}: ${row.holder_name ?? ''}`,
          row.roles,
        ]),
      };
    },
  },
  'sod-violations': {
    title: 'admin.reports.sod_violations',
    permission: 'users.read',
    async load(deps, context) {
      const rows = await listViolations(deps, context);
      return {
        columns: ['admin.sod.name', 'account.profile.username', 'admin.field.full_name', 'admin.users.unit', 'admin.sod.first', 'admin.sod.second'],
        rows: rows.map((row) => [row.rule_name, row.username, row.full_name, row.unit_name, `${row.app_a}: ${row.role_a}`, `${row.app_b}: ${row.role_b}`]),
      };
    },
  },
};

/** The governance reports: each a page and the same rows as CSV, limited to the reader's scope. */
export function mountReports(router: Router, deps: AdminConsoleDeps, guard: Middleware[]): void {
  router.get('/reports', ...guard, (ctx) => {
    const { principal } = contextOf(ctx);
    render(deps, ctx, 'admin/reports', 'admin.reports.title', (t) => ({
      reports: Object.entries(reports).filter(([, report]) => isPermitted(principal, report.permission)).map(([name, report]) => ({ name, title: t(report.title) })),
      mayReadRules: isPermitted(principal, 'apps.assign'),
    }));
  });

  router.get('/reports/:name', ...guard, async (ctx) => {
    const csv = ctx.params['name']?.endsWith('.csv') ?? false;
    const name = (ctx.params['name'] ?? '').replace(/\.csv$/, '');
    const report = Object.hasOwn(reports, name) ? reports[name] : undefined;
    if (!report) return;
    const context = contextOf(ctx);
    if (!isPermitted(context.principal, report.permission)) throw new AccessDenied(localizable(`this report needs the ${report.permission} permission`, 'problem.report.not_permitted'), `report.${name}`);
    await sendReport(deps, ctx, context, name, report, csv);
  });
}

async function sendReport(deps: AdminConsoleDeps, ctx: Context, context: AdminContext, name: string, report: Report, csv: boolean): Promise<void> {
  const t = translator(pageContext(ctx).locale);
  const { columns, rows } = await report.load(deps, context, ctx, t);
  if (csv) {
    sendCsvDownload(ctx, `${name}.csv`, spreadsheetCsv(columns.map((column) => t(column)), rows));
    return;
  }
  render(deps, ctx, 'admin/report', report.title, {
    name, columns: columns.map((column) => t(column)), rows, query: ctx.querystring ? `?${ctx.querystring}` : '',
    days: name === 'inactive' ? String(ctx.query['days'] ?? defaultInactiveDays) : null,
  });
}
