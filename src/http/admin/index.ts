import Router from '@koa/router';

import { refuseNulInUrl } from '../forms.ts';
import { mountAccessReviews } from './access-reviews.ts';
import { mountAuditLog } from './audit-log.ts';
import { mountClients } from './clients.ts';
import { mountDashboard } from './dashboard.ts';
import { mountDecisions } from './decisions.ts';
import { mountDirectoryMerge } from './directory-merge.ts';
import { mountGroups } from './groups.ts';
import { mountImport } from './import.ts';
import { mountInactivityPolicy } from './inactivity.ts';
import { mountOrgTree } from './org-tree.ts';
import { adminGuard, adminSessions, type AdminConsoleDeps } from './pages.ts';
import { mountPeople } from './people.ts';
import { mountReorganization } from './reorganization.ts';
import { mountReports } from './reports.ts';
import { mountResourceServers } from './resource-servers.ts';
import { mountSeparationOfDuties } from './separation-of-duties.ts';

export type { AdminConsoleDeps } from './pages.ts';

/**
 * The admin console at /admin: the admin API's service layer behind pages, for IT admins and unit
 * admins alike. A unit admin sees the same pages as an IT admin, with only their subtree's data.
 */
export function adminConsoleRoutes(deps: AdminConsoleDeps): Router {
  const router = new Router({ prefix: '/admin' });
  router.use(refuseNulInUrl);
  adminSessions.mountSignInRoutes(router, deps);
  const guard = adminGuard(deps);
  mountDashboard(router, deps, guard);
  mountPeople(router, deps, guard);
  mountDecisions(router, deps, guard);
  mountImport(router, deps, guard);
  mountGroups(router, deps, guard);
  mountOrgTree(router, deps, guard);
  mountReorganization(router, deps, guard);
  mountDirectoryMerge(router, deps, guard);
  mountInactivityPolicy(router, deps, guard);
  mountClients(router, deps, guard);
  mountResourceServers(router, deps, guard);
  mountAccessReviews(router, deps, guard);
  mountReports(router, deps, guard);
  mountSeparationOfDuties(router, deps, guard);
  mountAuditLog(router, deps, guard);
  return router;
}
