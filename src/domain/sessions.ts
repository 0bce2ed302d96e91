import type { Kysely } from 'kysely';

import { destroyPayloadsOfAccount, destroySessionsOfAccount, findSessionsOfAccount } from '../db/queries/oidc-payloads.ts';
import type { Database } from '../db/schema.ts';

/**
 * A person's sign-in sessions as oidc-provider stores them, read for the account console and for
 * ending them. A session's `authorizations` name, per app, the grant and the `sid` that app knows.
 */
export interface SessionSummary {
  readonly uid: string;
  /** When the person signed in, and when the session ends by itself. */
  readonly loginAt: Date | null;
  readonly expiresAt: Date | null;
  readonly clientIds: readonly string[];
  readonly amr: readonly string[];
}

/** Whom to tell by back-channel logout: each app a session signed in to, with the sid it knows. */
export interface SessionToNotify {
  readonly clientId: string;
  readonly sid: string;
}

type Authorizations = Record<string, { sid?: unknown; grantId?: unknown } | null>;

const authorizationsOf = (session: Record<string, unknown>): Authorizations =>
  session['authorizations'] !== null && typeof session['authorizations'] === 'object' ? (session['authorizations'] as Authorizations) : {};

export function sessionsToNotify(sessions: readonly Record<string, unknown>[]): SessionToNotify[] {
  return sessions.flatMap((session) =>
    Object.entries(authorizationsOf(session)).flatMap(([clientId, authorization]) =>
      typeof authorization?.sid === 'string' ? [{ clientId, sid: authorization.sid }] : []));
}

export async function listSessions(db: Kysely<Database>, accountId: string): Promise<SessionSummary[]> {
  const sessions = await findSessionsOfAccount(db, accountId);
  return sessions
    .filter((session) => typeof session['uid'] === 'string')
    .map((session) => ({
      uid: session['uid'] as string,
      loginAt: typeof session['loginTs'] === 'number' ? new Date(session['loginTs'] * 1000) : null,
      expiresAt: typeof session['exp'] === 'number' ? new Date(session['exp'] * 1000) : null,
      clientIds: Object.keys(authorizationsOf(session)),
      amr: Array.isArray(session['amr']) ? (session['amr'] as string[]) : [],
    }))
    .sort((a, b) => (b.loginAt?.getTime() ?? 0) - (a.loginAt?.getTime() ?? 0));
}

/**
 * Ends the person's sessions that `which` selects, with every grant and token issued through them,
 * and answers whom to notify (the caller sends back-channel logout after its transaction commits).
 */
export async function endSessions(
  db: Kysely<Database>,
  accountId: string,
  which: { readonly only: string } | { readonly except: string | null },
): Promise<{ ended: number; notify: SessionToNotify[] }> {
  const sessions = (await findSessionsOfAccount(db, accountId)).filter((session) =>
    'only' in which ? session['uid'] === which.only : session['uid'] !== which.except);
  const uids = sessions.map((session) => session['uid']).filter((uid): uid is string => typeof uid === 'string');
  const grantIds = sessions.flatMap((session) =>
    Object.values(authorizationsOf(session)).flatMap((authorization) => (typeof authorization?.grantId === 'string' ? [authorization.grantId] : [])));
  await destroySessionsOfAccount(db, accountId, uids, grantIds);
  return { ended: uids.length, notify: sessionsToNotify(sessions) };
}

/** Ends everything the person holds (a reset password, a disabled account), answering whom to notify. */
export async function endEverything(db: Kysely<Database>, accountId: string): Promise<{ revoked: number; notify: SessionToNotify[] }> {
  const notify = sessionsToNotify(await findSessionsOfAccount(db, accountId));
  return { revoked: await destroyPayloadsOfAccount(db, accountId), notify };
}
