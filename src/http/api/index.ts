import { bodyParser } from '@koa/bodyparser';
import Router from '@koa/router';
import type { Kysely } from 'kysely';

import type { Config } from '../../config/index.ts';
import type { Database } from '../../db/schema.ts';
import { AppError } from '../../errors.ts';
import type { BackchannelLogout } from '../../domain/users.ts';
import type { Logger } from '../../logger.ts';
import type { LiveProvider } from '../../oidc/live-provider.ts';
import { auditRefusals, rememberAdminContext } from '../admin-context.ts';
import { createApiAuthentication } from './authentication.ts';
import { buildOpenApiDocument } from './openapi.ts';
import { mountRoutes, type ApiRoute } from './route.ts';
import { accessReviewRoutes } from './routes/access-reviews.ts';
import { appAccessRoutes } from './routes/app-access.ts';
import { appRegistrationRoutes } from './routes/app-registrations.ts';
import { auditEventRoutes } from './routes/audit-events.ts';
import { directoryMergeRoutes } from './routes/directory-merge.ts';
import { groupRoutes } from './routes/groups.ts';
import { orgUnitRoutes } from './routes/org-units.ts';
import { reorganizationPlanRoutes } from './routes/reorganization-plans.ts';
import { resourceServerRoutes } from './routes/resource-servers.ts';
import { personnelDecisionRoutes } from './routes/personnel-decisions.ts';
import { roleAssignmentRoutes } from './routes/role-assignments.ts';
import { separationOfDutiesRoutes } from './routes/separation-of-duties.ts';
import { tokenExchangePermissionRoutes } from './routes/token-exchange-permissions.ts';
import { userImportRoutes } from './routes/user-import.ts';
import { userRoutes } from './routes/users.ts';

export interface AdminApiDeps {
  readonly db: Kysely<Database>;
  readonly issuer: string;
  readonly oidc: LiveProvider;
  readonly logger: Logger;
  readonly backchannelLogout: BackchannelLogout;
  readonly masterKey: Buffer;
  readonly governance: Config['governance'];
}

export const apiPrefix = '/api/v1';

export function adminApiRoutes(deps: AdminApiDeps): ApiRoute[] {
  return [
    ...userImportRoutes(deps),
    ...userRoutes(deps),
    ...orgUnitRoutes(deps),
    ...groupRoutes(deps),
    ...roleAssignmentRoutes(deps),
    ...tokenExchangePermissionRoutes(deps),
    ...auditEventRoutes(deps),
    ...appAccessRoutes(deps),
    ...separationOfDutiesRoutes(deps),
    ...accessReviewRoutes(deps),
    ...appRegistrationRoutes(deps),
    ...resourceServerRoutes(deps),
    ...reorganizationPlanRoutes(deps),
    ...directoryMergeRoutes(deps),
    ...personnelDecisionRoutes({ ...deps, moverGraceDays: deps.governance.moverGraceDays, inactivityDefaults: deps.governance.inactivity }),
  ];
}

/** The admin REST API at /api/v1, and its OpenAPI document (public: it describes, it grants nothing). */
export function adminApiRouter(deps: AdminApiDeps): Router {
  const routes = adminApiRoutes(deps);
  const document = buildOpenApiDocument(routes, deps.issuer);
  const authenticate = createApiAuthentication(deps);
  const router = new Router({ prefix: apiPrefix });

  router.get('/openapi.json', (ctx) => {
    ctx.set('Cache-Control', 'public, max-age=300');
    ctx.body = document;
  });
  router.use(auditRefusals(deps));
  // JSON for everything but uploads (the import's CSV), which the routes read as bytes.
  const parseBody = bodyParser({ enableTypes: ['json'], jsonLimit: '256kb', encoding: 'utf-8' });

  mountRoutes(router, routes, async (ctx) => rememberAdminContext(ctx, await authenticate(ctx)), parseBody);
  // Below /api/v1 nothing falls through to oidc-provider: an unknown path or method is a JSON error.
  const catchAll = '/{*rest}';
  router.all(catchAll, (ctx) => {
    const allowed = router.match(ctx.path, ctx.method).path
      .filter((layer) => !String(layer.path).endsWith(catchAll) && layer.methods.length > 0)
      .flatMap((layer) => layer.methods).filter((method) => method !== 'HEAD');
    if (allowed.length > 0) {
      ctx.set('Allow', [...new Set(allowed)].join(', '));
      throw new AppError('method_not_allowed', `${ctx.method} is not allowed on ${ctx.path}; use ${[...new Set(allowed)].join(' or ')}`, 405);
    }
    throw new AppError('not_found', `the API has no ${ctx.path}; see ${apiPrefix}/openapi.json`, 404);
  });
  return router;
}
