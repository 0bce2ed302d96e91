import Router from '@koa/router';
import type { Kysely } from 'kysely';

import { migrationsAreCurrent } from '../../db/migrator.ts';
import { pingDatabase } from '../../db/queries/health.ts';
import type { Database } from '../../db/schema.ts';
import type { LiveProvider } from '../../oidc/live-provider.ts';

export interface OperationsDeps {
  readonly db: Kysely<Database>;
  readonly oidc: LiveProvider;
}

/** Liveness and readiness for load balancers and orchestrators. */
export function operationsRoutes(deps: OperationsDeps): Router {
  const router = new Router();

  router.get('/healthz', (ctx) => {
    ctx.set('Cache-Control', 'no-store');
    ctx.body = { status: 'ok' };
  });

  router.get('/readyz', async (ctx) => {
    ctx.set('Cache-Control', 'no-store');
    const checks = {
      database: await pingDatabase(deps.db),
      migrations: await migrationsAreCurrent(deps.db).catch(() => false),
      keys: deps.oidc.keysLoaded,
    };
    const ready = Object.values(checks).every(Boolean);
    ctx.status = ready ? 200 : 503;
    ctx.body = { status: ready ? 'ready' : 'not_ready', checks };
  });

  return router;
}
