import type Router from '@koa/router';
import type { Middleware } from 'koa';

import { countLockedUsers, countUsersByStatus, countUsersWithoutSecondFactor, loginsPerDay } from '../../db/queries/dashboard.ts';
import { userStatuses } from '../../db/schema.ts';
import { scopeOf, subtreeFilter } from '../../domain/authorization.ts';
import { barChart } from '../charts.ts';
import { contextOf, render, type AdminConsoleDeps } from './pages.ts';

/** Days on the sign-in chart. */
const chartDays = 30;

/** The first page: the state of the accounts the admin looks after, and how sign-ins went lately. */
export function mountDashboard(router: Router, deps: AdminConsoleDeps, guard: Middleware[]): void {
  router.get('/', ...guard, async (ctx) => {
    const subtrees = subtreeFilter(scopeOf(contextOf(ctx).principal, 'users.read'));
    const [statuses, days, locked, withoutFactor] = await Promise.all([
      countUsersByStatus(deps.db, subtrees),
      loginsPerDay(deps.db, subtrees, chartDays),
      countLockedUsers(deps.db, subtrees),
      countUsersWithoutSecondFactor(deps.db, subtrees),
    ]);
    render(deps, ctx, 'admin/dashboard', 'admin.dashboard.title', (t) => ({
      statuses: userStatuses.map((status) => ({ status, label: t(`admin.status.${status}`), count: statuses[status] })),
      days: String(chartDays),
      chart: barChart(
        days.map((day) => ({ label: day.day.slice(5).split('-').reverse().join('/'), values: [day.succeeded, day.failed] })),
        [{ name: t('admin.dashboard.succeeded'), colour: '#0b5f8a' }, { name: t('admin.dashboard.failed'), colour: '#a4262c' }],
        { width: 640, height: 180, labelEvery: 5 },
      ),
      failedTotal: days.reduce((sum, day) => sum + day.failed, 0),
      succeededTotal: days.reduce((sum, day) => sum + day.succeeded, 0),
      locked,
      withoutFactor,
    }));
  });
}
