import type { Kysely } from 'kysely';
import type { Account, FindAccount } from 'oidc-provider';

import { findUserById } from '../db/queries/users.ts';
import { mayUseApp } from '../domain/app-access.ts';
import type { Database, User } from '../db/schema.ts';

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
} as const;

/**
 * oidc-provider asks for the account on every login, refresh and userinfo call. Only an active user
 * is an account: once someone is suspended or disabled, their refresh tokens and userinfo calls fail.
 * So do they once the app is closed to them (app-access.ts); at sign-in the prompt policy explains
 * that instead (prompt-policy.ts).
 */
export function createFindAccount(db: Kysely<Database>): FindAccount {
  return async (ctx, sub) => {
    const user = await findUserById(db, sub);
    if (!user || user.status !== 'active') return undefined;
    const { client, route } = ctx.oidc;
    if (client && (route === 'token' || route === 'userinfo') && !(await mayUseApp(db, client, user.id))) return undefined;
    return toAccount(user);
  };
}

function toAccount(user: User): Account {
  return {
    accountId: user.id,
    claims: () => ({
      sub: user.id,
      name: user.full_name,
      preferred_username: user.username,
      updated_at: Math.floor(user.updated_at.getTime() / 1000),
      ...(user.email ? { email: user.email, email_verified: user.email_verified } : {}),
      ...(user.phone ? { phone_number: user.phone, phone_number_verified: user.phone_verified } : {}),
    }),
  };
}
