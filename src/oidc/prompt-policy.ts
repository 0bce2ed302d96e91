import type { Kysely } from 'kysely';
import { interactionPolicy, type KoaContextWithOIDC } from 'oidc-provider';

import type { Database } from '../db/schema.ts';
import { mayUseApp } from '../domain/app-access.ts';
import { authenticationLevels, secondFactorRequired } from '../domain/second-factors.ts';
import { clientFlag } from './client-flags.ts';
import { useAppSubjectsInLoginChecks } from './subject-aliases.ts';

/** The reason oidc-provider gives for a login prompt that only needs the second factor (step-up). */
export const secondFactorReason = 'second_factor';

/**
 * Whether this authorization request needs a two-factor sign-in: the app asked for it with
 * `acr_values`, the app's policy demands it, or the person's units do.
 */
export async function requestNeedsSecondFactor(
  db: Kysely<Database>,
  request: { readonly acrValues: unknown; readonly client: object | undefined; readonly accountId: string },
): Promise<boolean> {
  if (typeof request.acrValues === 'string' && request.acrValues.split(' ').includes(authenticationLevels.mfa)) return true;
  return secondFactorRequired(db, request.accountId, { mfaRequired: clientFlag(request.client, 'mfa_required') });
}

/**
 * The reason given when the signed-in person may not use this app (a restricted app no assignment
 * opens to them): the interaction says so, and whom to ask, instead of signing them in.
 */
export const appAccessReason = 'app_access';

/** The reason given when a session outlived SESSION_MAX_SECONDS: a full login follows. */
export const sessionTooOldReason = 'session_too_old';

/**
 * oidc-provider's default prompts, with three more reasons to ask for a login: the session is older
 * than the configured maximum (its idle timeout is its storage lifetime, see provider.ts); it was
 * opened with a password alone and this request needs a second factor (the interaction then asks
 * only for the factor, since the session already names the person); or the person may not use
 * this app (the interaction then explains, and offers only to go back).
 */
export function promptPolicy(db: Kysely<Database>, session: { readonly maxSeconds: number }): interactionPolicy.Prompt[] {
  const { base, Check } = interactionPolicy;
  const policy = base();
  const login = policy.get('login')!;
  // After a directory merge an app may know the person by another sub than their id.
  useAppSubjectsInLoginChecks(login, db);
  login.checks.add(
    new Check(sessionTooOldReason, 'the sign-in session is older than its maximum lifetime', (ctx: KoaContextWithOIDC) => {
      const { loginTs } = ctx.oidc.session ?? {};
      if (!ctx.oidc.session?.accountId || typeof loginTs !== 'number') return Check.NO_NEED_TO_PROMPT;
      return Date.now() / 1000 - loginTs > session.maxSeconds ? Check.REQUEST_PROMPT : Check.NO_NEED_TO_PROMPT;
    }),
  );
  login.checks.add(
    new Check(secondFactorReason, 'a second factor is required', async (ctx: KoaContextWithOIDC) => {
      const { session } = ctx.oidc;
      if (!session?.accountId || session.acr === authenticationLevels.mfa) return Check.NO_NEED_TO_PROMPT;
      const needed = await requestNeedsSecondFactor(db, { acrValues: ctx.oidc.params?.['acr_values'], client: ctx.oidc.client, accountId: session.accountId });
      return needed ? Check.REQUEST_PROMPT : Check.NO_NEED_TO_PROMPT;
    }),
  );
  login.checks.add(
    new Check(appAccessReason, 'the person may not use this app', async (ctx: KoaContextWithOIDC) => {
      const accountId = ctx.oidc.session?.accountId;
      const { client } = ctx.oidc;
      if (!accountId || !client) return Check.NO_NEED_TO_PROMPT;
      return (await mayUseApp(db, client, accountId)) ? Check.NO_NEED_TO_PROMPT : Check.REQUEST_PROMPT;
    }),
  );
  return [...policy];
}
