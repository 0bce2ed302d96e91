import Router from '@koa/router';
import type { Kysely } from 'kysely';

import { migrationsAreCurrent } from '../../db/migrator.ts';
import { pingDatabase } from '../../db/queries/health.ts';
import type { Database } from '../../db/schema.ts';

export interface OperationsDeps {
  readonly db: Kysely<Database>;
  /** False while the server is starting and has not yet reached the database to load its keys. */
  keysLoaded(): boolean;
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
      keys: deps.keysLoaded(),
    };
    const ready = Object.values(checks).every(Boolean);
    ctx.status = ready ? 200 : 503;
    ctx.body = { status: ready ? 'ready' : 'not_ready', checks };
  });

  return router;
}
