import type { Kysely } from 'kysely';

import { listAuditEvents } from '../db/queries/audit-events.ts';
import { destroyGrantsOfClient, findGrantsOfAccount } from '../db/queries/oidc-payloads.ts';
import type { AuditEvent, Database, User } from '../db/schema.ts';
import { recordAuditEvent, type Actor, type RequestOrigin } from './audit.ts';
import { endSessions } from './sessions.ts';
import type { BackchannelLogout } from './users.ts';

/**
 * What a signed-in person may do to their own account from the account console, beyond passwords
 * (credentials.ts), second factors (second-factors.ts) and their address and number
 * (contact-changes.ts). Name, unit and employee code belong to HR and stay with the admins.
 */
const self = (user: Pick<User, 'id' | 'username'>): Actor => ({ type: 'user', id: user.id, name: user.username });

export interface ConnectedApp {
  readonly clientId: string;
  readonly scopes: readonly string[];
}

/** The apps the person has granted access to, one entry per app, with the scopes granted. */
export async function listConnectedApps(db: Kysely<Database>, accountId: string): Promise<ConnectedApp[]> {
  const byClient = new Map<string, Set<string>>();
  for (const grant of await findGrantsOfAccount(db, accountId)) {
    const clientId = grant['clientId'];
    if (typeof clientId !== 'string') continue;
    const scopes = byClient.get(clientId) ?? new Set<string>();
    const openid = (grant['openid'] as { scope?: unknown } | undefined)?.scope;
    if (typeof openid === 'string') for (const scope of openid.split(' ')) if (scope) scopes.add(scope);
    byClient.set(clientId, scopes);
  }
  return [...byClient].map(([clientId, scopes]) => ({ clientId, scopes: [...scopes].sort() }));
}

/** Withdraws the person's consent to one app: its grants and every token issued under them end. Audited. */
export async function revokeAppAccess(db: Kysely<Database>, user: User, clientId: string, origin: RequestOrigin): Promise<number> {
  return db.transaction().execute(async (trx) => {
    const revoked = await destroyGrantsOfClient(trx, user.id, clientId);
    if (revoked > 0) {
      await recordAuditEvent(trx, {
        actor: self(user), origin, action: 'grant.revoke', target: { type: 'user', id: user.id }, orgUnitId: user.primary_org_unit_id,
        details: { client_id: clientId, revoked_artifacts: revoked },
      });
    }
    return revoked;
  });
}

/**
 * Signs one of the person's sessions out (a phone left at the hospital, a shared screen): the
 * session, its grants and tokens end, and the apps it signed in to get back-channel logout.
 */
export async function endOwnSession(
  deps: { readonly db: Kysely<Database>; readonly backchannelLogout: BackchannelLogout },
  user: User,
  sessionUid: string,
  origin: RequestOrigin,
): Promise<boolean> {
  const { ended } = await deps.db.transaction().execute(async (trx) => {
    const result = await endSessions(trx, user.id, { only: sessionUid });
    if (result.notify.length > 0) await deps.backchannelLogout(trx, user.id, result.notify);
    if (result.ended > 0) {
      await recordAuditEvent(trx, {
        actor: self(user), origin, action: 'session.end', target: { type: 'user', id: user.id }, orgUnitId: user.primary_org_unit_id,
        details: { session: sessionUid, apps: result.notify.map((entry) => entry.clientId) },
      });
    }
    return result;
  });
  return ended > 0;
}

/** The person's own recent history: sign-ins, failures, lockouts and every change made to their account. */
export async function recentActivity(db: Kysely<Database>, accountId: string, limit = 30): Promise<AuditEvent[]> {
  return listAuditEvents(db, { targetType: 'user', targetId: accountId, subtrees: null, limit });
}
