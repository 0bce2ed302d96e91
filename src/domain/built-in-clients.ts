import type { Kysely } from 'kysely';

import { upsertBuiltInClient } from '../db/queries/clients.ts';
import type { Database } from '../db/schema.ts';

/**
 * The account console at /account signs people in through Mekong ID like any app would: it is a
 * first-party client of its own provider (no consent screen), public (its code exchange happens
 * in-process, see http/account-session.ts, and PKCE protects the code), and its redirect URIs
 * follow the issuer, so they are refreshed at every start.
 */
export const accountConsoleClientId = 'mekong-account-console';

export const accountConsolePaths = { callback: '/account/callback', home: '/account' } as const;

export async function ensureBuiltInClients(db: Kysely<Database>, issuer: string): Promise<void> {
  await upsertBuiltInClient(db, {
    client_id: accountConsoleClientId,
    client_secret_hash: null,
    first_party: true,
    metadata: {
      client_id: accountConsoleClientId,
      client_name: 'Mekong ID',
      application_type: 'web',
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
      redirect_uris: [`${issuer}${accountConsolePaths.callback}`],
      post_logout_redirect_uris: [`${issuer}${accountConsolePaths.home}`],
    },
  });
}
