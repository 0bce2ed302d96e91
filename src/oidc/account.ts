import type { Kysely } from 'kysely';
import type { Account, FindAccount } from 'oidc-provider';

import { coveringAppRoles } from '../db/queries/app-access.ts';
import { unitWithAncestors } from '../db/queries/org-units.ts';
import { findAccountUser, type AccountUser } from '../db/queries/users.ts';
import { mayUseApp } from '../domain/app-access.ts';
import type { Database } from '../db/schema.ts';
import { notPrefetched, prefetchedAccounts } from './prefetched.ts';

/**
 * Which claims each scope releases. `sub` is the user's UUID: stable across renames and moves. How
 * and when the person authenticated (acr, amr, auth_time) rides with `openid` so that every ID token
 * carries it and apps can ask for step-up.
 */
export const claimsByScope = {
  openid: ['sub', 'acr', 'amr', 'auth_time'],
  profile: ['name', 'preferred_username', 'updated_at'],
  email: ['email', 'email_verified'],
  phone: ['phone_number', 'phone_number_verified'],
  // For apps that authorize on their own, without calling back: where the person works, their
  // position, and the roles this app's assignments give them (governance, domain/app-access.ts).
  gov: ['org_unit', 'position', 'app_roles'],
} as const;

/**
 * oidc-provider asks for the account on every login, refresh and userinfo call. Only an active user
 * is an account: once someone is suspended or disabled, their refresh tokens and userinfo calls fail.
 * So do they once the app is closed to them (app-access.ts); at sign-in the prompt policy explains
 * that instead (prompt-policy.ts).
 */
export function createFindAccount(db: Kysely<Database>): FindAccount {
  return async (ctx, sub) => {
    // Userinfo, refresh, and a sign-in's authorization and token requests: the query that read the
    // token, session or code read the person too (prefetched.ts).
    const prefetched = prefetchedAccounts.take(sub);
    const user = prefetched === notPrefetched ? await findAccountUser(db, sub) : prefetched;
    if (!user || user.status !== 'active') return undefined;
    const { client, route } = ctx.oidc;
    if (client && (route === 'token' || route === 'userinfo') && !(await mayUseApp(db, client, user.id))) return undefined;
    return toAccount(db, user, client?.clientId);
  };
}

/**
 * The `gov` claims: the primary unit (its id, code, name and kind; its level, 0 for the province;
 * its path as unit ids, stable across renames, and as codes, readable), the position, and the app
 * roles this app's assignments grant. The path follows any move or reorganization at once.
 */
async function governanceClaims(db: Kysely<Database>, user: AccountUser, clientId: string | undefined): Promise<Record<string, unknown>> {
  const [units, roles] = await Promise.all([
    user.primary_org_unit_id ? unitWithAncestors(db, user.primary_org_unit_id) : Promise.resolve([]),
    clientId ? coveringAppRoles(db, clientId, user.id) : Promise.resolve({ roles: [] }),
  ]);
  const unit = units.at(-1);
  return {
    org_unit: unit
      ? { id: unit.id, code: unit.code, name: unit.name, kind: unit.kind, level: unit.depth, path: unit.path, path_codes: units.map((one) => one.code) }
      : null,
    position: user.position,
    app_roles: roles.roles,
  };
}

function toAccount(db: Kysely<Database>, user: AccountUser, clientId: string | undefined): Account {
  return {
    accountId: user.id,
    claims: async (_use, scope) => ({
      ...(scope.split(' ').includes('gov') ? await governanceClaims(db, user, clientId) : {}),
      sub: user.id,
      name: user.full_name,
      preferred_username: user.username,
      updated_at: Math.floor(user.updated_at.getTime() / 1000),
      ...(user.email ? { email: user.email, email_verified: user.email_verified } : {}),
      ...(user.phone ? { phone_number: user.phone, phone_number_verified: user.phone_verified } : {}),
    }),
  };
}
