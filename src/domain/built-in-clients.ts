import type { Kysely } from 'kysely';

import { upsertBuiltInClient } from '../db/queries/clients.ts';
import type { Database } from '../db/schema.ts';

/**
 * Mekong ID's own consoles sign people in through Mekong ID like any app would: each is a
 * first-party client of its own provider (no consent screen), public (its code exchange happens
 * in-process, see http/console-session.ts, and PKCE protects the code), and its redirect URIs
 * follow the issuer, so they are refreshed at every start.
 */
export interface BuiltInConsole {
  readonly clientId: string;
  readonly name: string;
  /** The console's root path; its callback is below it, and its cookies are scoped to it. */
  readonly home: '/account' | '/admin' | '/developers';
}

/** Every person's own account: profile, password, second factors, sessions. */
export const accountConsole: BuiltInConsole = { clientId: 'mekong-account-console', name: 'Mekong ID', home: '/account' };

/** The IT admins' and unit admins' console over the same service layer as the admin API. */
export const adminConsole: BuiltInConsole = { clientId: 'mekong-admin-console', name: 'Mekong ID — quản trị', home: '/admin' };

/**
 * App developers' portal. Its own client rather than the admin console's: a console's callback,
 * cookies and sign-out live below its own path, and a developer is not an administrator.
 */
export const developerPortal: BuiltInConsole = { clientId: 'mekong-developer-portal', name: 'Mekong ID — nhà phát triển', home: '/developers' };

const builtInConsoles = [accountConsole, adminConsole, developerPortal] as const;

export const consoleCallback = (site: BuiltInConsole) => `${site.home}/callback`;

/** Whether an app is one of Mekong ID's own consoles, which people never grant access to. */
export const isBuiltInClient = (clientId: string) => builtInConsoles.some((site) => site.clientId === clientId);

export async function ensureBuiltInClients(db: Kysely<Database>, issuer: string): Promise<void> {
  for (const site of builtInConsoles) {
    await upsertBuiltInClient(db, {
      client_id: site.clientId,
      client_secret_hash: null,
      first_party: true,
      metadata: {
        client_id: site.clientId,
        client_name: site.name,
        application_type: 'web',
        grant_types: ['authorization_code'],
        response_types: ['code'],
        token_endpoint_auth_method: 'none',
        redirect_uris: [`${issuer}${consoleCallback(site)}`],
        post_logout_redirect_uris: [`${issuer}${site.home}`],
      },
    });
  }
}
