import Koa from 'koa';
import Router from '@koa/router';
import type { Kysely } from 'kysely';

import type { Config } from '../config/index.ts';
import type { Database } from '../db/schema.ts';
import type { PasswordHasher } from '../domain/passwords.ts';
import type { Logger } from '../logger.ts';
import type { LiveProvider } from '../oidc/live-provider.ts';
import type { BackchannelLogout } from '../domain/users.ts';
import { adminApiRouter } from './api/index.ts';
import { scimRouter } from './scim/index.ts';
import type { Metrics } from '../metrics.ts';
import { relyingPartyOf } from '../domain/webauthn.ts';
import { errorHandler } from './error-handler.ts';
import { providerPaths } from '../oidc/provider-paths.ts';
import { measureRequests } from './request-metrics.ts';
import { requestContext } from './request-context.ts';
import { securityHeaders } from './security-headers.ts';
import { accountConsoleRoutes } from './routes/account-console.ts';
import { adminConsoleRoutes } from './admin/index.ts';
import { developerPortalRoutes } from './developers/index.ts';
import { accountRecoveryRoutes } from './routes/account-recovery.ts';
import { devOutboxRoutes } from './routes/dev-outbox.ts';
import { interactionRoutes } from './routes/interactions.ts';
import { metricsRoutes } from './routes/metrics.ts';
import { operationsRoutes } from './routes/operations.ts';
import type { Views } from './views.ts';
import type { TextMessageSender } from '../sms/sender.ts';

export interface AppDeps {
  readonly config: Config;
  readonly db: Kysely<Database>;
  readonly logger: Logger;
  readonly views: Views;
  readonly passwords: PasswordHasher;
  readonly oidc: LiveProvider;
  readonly backchannelLogout: BackchannelLogout;
  readonly metrics: Metrics;
  readonly sms: TextMessageSender;
}

/** Mekong ID's own routes first; whatever they do not handle goes to oidc-provider at the issuer root. */
export function createApp(deps: AppDeps): Koa {
  const app = createKoa(deps.config);
  const https = deps.config.issuer.startsWith('https:');

  app.use(requestContext(deps.logger, deps.config.trustProxy));
  app.use(measureRequests(deps.metrics));
  app.use(
    securityHeaders({
      contentSecurityPolicy: {
        useDefaults: false,
        directives: {
          defaultSrc: ["'none'"],
          scriptSrc: ["'self'"],
          styleSrc: ["'self'"],
          imgSrc: ["'self'", 'data:'],
          connectSrc: ["'self'"],
          baseUri: ["'none'"],
          frameAncestors: ["'none'"],
          // No form-action: browsers apply it to the redirects after a form post, and a login or
          // logout form legitimately ends on the app's own (registered) redirect URI.
        },
      },
      strictTransportSecurity: https ? { maxAge: 365 * 24 * 60 * 60, includeSubDomains: true } : false,
      referrerPolicy: { policy: 'no-referrer' },
      crossOriginResourcePolicy: { policy: 'same-site' },
    }),
  );
  app.use(errorHandler(deps.views, deps.logger));

  const staticRoutes = new Router();
  staticRoutes.get('/static/:name', (ctx) => {
    const asset = deps.views.assets.get(ctx.params['name'] ?? '');
    if (!asset) return;
    ctx.type = (ctx.params['name'] ?? '').split('.').pop() ?? 'application/octet-stream';
    ctx.set('Cache-Control', 'public, max-age=3600');
    ctx.body = asset;
  });

  const toProvider = async (ctx: Koa.Context) => {
    ctx.respond = false;
    await deps.oidc.handle(ctx.req, ctx.res);
  };
  // The token endpoint, userinfo, introspection…: nothing below is for them, so they skip a dozen
  // route tables on the busiest paths there are.
  app.use((ctx, next) => (providerPaths.has(ctx.path) ? toProvider(ctx) : next()));

  const routers = [
    staticRoutes,
    operationsRoutes({ db: deps.db, keysLoaded: () => deps.oidc.keysLoaded }),
    metricsRoutes(deps),
    interactionRoutes({
      ...deps, throttle: deps.config.loginThrottle, masterKey: deps.config.masterKey, sessionPolicy: deps.config.session, provider: () => deps.oidc.current(),
      relying: relyingPartyOf(deps.config.issuer), passwordPolicy: deps.config.passwordPolicy, passwordMaxAgeDays: deps.config.passwordPolicy.maxAgeDays ?? 0,
      passwordlessPasskeys: deps.config.passkeySignIn,
    }),
    accountRecoveryRoutes({ ...deps, passwordPolicy: deps.config.passwordPolicy, masterKey: deps.config.masterKey }),
    accountConsoleRoutes({
      ...deps, passwordPolicy: deps.config.passwordPolicy, masterKey: deps.config.masterKey, issuer: deps.config.issuer, provider: () => deps.oidc.current(),
      relying: relyingPartyOf(deps.config.issuer), throttle: deps.config.loginThrottle,
      // A code must be able to reach the person: a gateway, or the development outbox outside production.
      selfServicePhone: deps.sms.reachesPhones || deps.config.env !== 'production',
    }),
    adminApiRouter({ ...deps, issuer: deps.config.issuer, masterKey: deps.config.masterKey, governance: deps.config.governance }),
    scimRouter({ ...deps, issuer: deps.config.issuer, masterKey: deps.config.masterKey }),
    adminConsoleRoutes({
      ...deps, issuer: deps.config.issuer, masterKey: deps.config.masterKey, provider: () => deps.oidc.current(), governance: deps.config.governance,
    }),
    developerPortalRoutes({ ...deps, issuer: deps.config.issuer, provider: () => deps.oidc.current() }),
    // What the development outbox holds carries links and codes: never in production.
    ...(deps.config.env === 'production' ? [] : [devOutboxRoutes({ dataDir: deps.config.dataDir, views: deps.views })]),
  ];
  for (const router of routers) {
    app.use(router.routes());
    app.use(router.allowedMethods());
  }

  app.use(toProvider);
  return app;
}

function createKoa(config: Config): Koa {
  // Behind the proxy, the client's address is the last X-Forwarded-For entry, the one the proxy
  // appended; anything before it the client wrote itself (and could use to dodge throttling).
  return new Koa({ proxy: config.trustProxy, maxIpsCount: 1, keys: [...config.cookieKeys] });
}

/**
 * What answers while the server waits for its database at start-up: alive at /healthz, not ready
 * at /readyz (so a load balancer sends nobody here yet), and 503 with Retry-After for the rest.
 */
export function createStartingApp(deps: Pick<AppDeps, 'config' | 'db' | 'logger'>): Koa {
  const app = createKoa(deps.config);
  app.use(requestContext(deps.logger, deps.config.trustProxy));
  const operations = operationsRoutes({ db: deps.db, keysLoaded: () => false });
  app.use(operations.routes());
  app.use(operations.allowedMethods());
  app.use((ctx) => {
    ctx.status = 503;
    ctx.set('Retry-After', '5');
    ctx.set('Cache-Control', 'no-store');
    ctx.body = { error: 'starting', message: 'Mekong ID is starting and cannot reach its database yet; try again shortly', request_id: String(ctx.state['requestId'] ?? '') };
  });
  return app;
}
