import type { Kysely } from 'kysely';
import { z } from 'zod';

import {
  findClient, insertClientOwner, isClientOwner, listClientOwners, listClientsOwnedBy, replaceClientSecret, setClientStatus,
  type ClientOwner,
} from '../db/queries/clients.ts';
import { scopedAssignmentsOf } from '../db/queries/role-assignments.ts';
import { findUserByLogin } from '../db/queries/users.ts';
import type { Client, Database } from '../db/schema.ts';
import { AppError, assertThat, conflict, invalidInput, localizable } from '../errors.ts';
import { recordAuditEvent } from './audit.ts';
import { AccessDenied, isPermitted, permissionsOfRole, requirePermission, scopeOf, type AdminContext, type Principal } from './authorization.ts';
import { isBuiltInClient } from './built-in-clients.ts';
import { generateClientSecret, hashClientSecret } from './client-secrets.ts';
import { registerClient, type ClientDeps, type ClientRegistration, type RegisteredClient } from './clients.ts';
import { auditBase } from './org-units.ts';

/**
 * The developer portal's rules. Someone holding the developer role (clients.register) registers
 * apps and owns them: they see and change only their own, with the co-owners they add. A new app
 * is pending until a global administrator approves it, and nobody approves their own. Global
 * administrators (apps.assign over the whole province) may act on any app, as the admin console does.
 */

const target = (clientId: string) => ({ type: 'client', id: clientId });
const personOf = (principal: Principal) => ('userId' in principal.holder ? principal.holder.userId : null);

/** How long a rotated secret keeps working, at most: long enough for a monthly release, short enough to end a leak. */
export const maxSecretOverlapSeconds = 30 * 24 * 60 * 60;
export const defaultSecretOverlapSeconds = 24 * 60 * 60;

export const secretRotationSchema = z.object({
  overlap_seconds: z.number().int().min(0).max(maxSecretOverlapSeconds, 'the overlap is at most 30 days').default(defaultSecretOverlapSeconds),
});

function requireDeveloper(principal: Principal, action: string): string {
  const userId = personOf(principal);
  if (!userId || !isPermitted(principal, 'clients.register')) {
    throw new AccessDenied(localizable('registering and looking after apps needs the developer role; ask the provincial IT centre for it', 'problem.developer.role_needed'), action);
  }
  return userId;
}

const isGlobalAdmin = (principal: Principal) => scopeOf(principal, 'apps.assign').global;

/**
 * The app, if the principal may look after it: one of its owners (still holding the developer
 * role), or a global administrator. Anyone else is refused with the reason, and the refusal is audited.
 */
export async function appInCare(db: Kysely<Database>, context: AdminContext, clientId: string, action: string): Promise<Client> {
  const client = await findClient(db, clientId);
  assertThat(client && !isBuiltInClient(clientId), () => new AppError('not_found', localizable(`no app with client id ${clientId}`, 'problem.client.not_found', { id: clientId }), 404));
  if (isGlobalAdmin(context.principal)) return client;
  const userId = requireDeveloper(context.principal, action);
  if (!(await isClientOwner(db, clientId, userId))) {
    throw new AccessDenied(localizable('this app belongs to other developers: only its owners and the province\'s administrators may see or change it', 'problem.developer.not_owner'), action, target(clientId));
  }
  return client;
}

/** Registers an app from the portal: owned by the developer, pending until approved. */
export async function registerDeveloperApp(deps: ClientDeps, context: AdminContext, registration: ClientRegistration): Promise<RegisteredClient> {
  const userId = requireDeveloper(context.principal, 'client.register');
  return registerClient(deps, { ...registration, firstParty: false }, { actor: context.principal.actor, origin: context.origin, owner: { userId } });
}

export async function listOwnApps(db: Kysely<Database>, context: AdminContext): Promise<Client[]> {
  return listClientsOwnedBy(db, requireDeveloper(context.principal, 'client.list'));
}

export async function ownersOfApp(db: Kysely<Database>, context: AdminContext, clientId: string): Promise<ClientOwner[]> {
  await appInCare(db, context, clientId, 'client.read');
  return listClientOwners(db, clientId);
}

/**
 * An administrator's decision on a pending app: approved, it is known to the provider at once;
 * rejected, it never will be. Apps serve the whole province, so only a global administrator
 * decides, and never on an app they own themselves: a second person must look at it.
 */
export async function decideOnApp(db: Kysely<Database>, context: AdminContext, clientId: string, decision: 'approve' | 'reject'): Promise<void> {
  const action = decision === 'approve' ? 'client.approve' : 'client.reject';
  await db.transaction().execute(async (trx) => {
    const client = await findClient(trx, clientId);
    assertThat(client, () => new AppError('not_found', localizable(`no app with client id ${clientId}`, 'problem.client.not_found', { id: clientId }), 404));
    requirePermission(context.principal, 'apps.assign', null, {
      action, target: target(clientId), message: localizable('approving an app concerns the whole province: it needs a global administrator', 'problem.developer.approve_needs_global'),
    });
    const userId = personOf(context.principal);
    if (userId && (await isClientOwner(trx, clientId, userId))) {
      throw new AccessDenied(localizable('you registered this app yourself: another administrator must approve or reject it', 'problem.developer.own_app'), action, target(clientId));
    }
    assertThat(client.status === 'pending', () => conflict(localizable(`the app is ${client.status}, not waiting for approval`, 'problem.developer.not_pending')));
    const status = decision === 'approve' ? 'active' : 'rejected';
    await setClientStatus(trx, clientId, status);
    await recordAuditEvent(trx, { ...auditBase(context), action, target: target(clientId), before: { status: client.status }, after: { status } });
  });
}

export interface RotatedSecret {
  /** Shown once. */
  readonly clientSecret: string;
  /** Until when the secret it replaced still works; null when it stopped at once. */
  readonly previousSecretExpiresAt: Date | null;
}

/**
 * A new secret for a confidential app, shown once. The one it replaces keeps working for the
 * overlap, so the app can switch without downtime; a secret older than that is dropped at once
 * (one previous secret at a time). An overlap of 0 ends the old secret now, as after a leak.
 */
export async function rotateClientSecret(db: Kysely<Database>, context: AdminContext, clientId: string, overlapSeconds: number): Promise<RotatedSecret> {
  const { overlap_seconds: overlap } = parseOrThrow(secretRotationSchema, { overlap_seconds: overlapSeconds });
  return db.transaction().execute(async (trx) => {
    const client = await appInCare(trx, context, clientId, 'client.secret_rotate');
    assertThat(client.status !== 'rejected', () => conflict(localizable('the app was rejected; register it again', 'problem.developer.rejected')));
    assertThat(client.client_secret_hash, () => conflict(localizable('the app has no secret: it is public, or signs its requests with its own keys', 'problem.developer.no_secret')));
    const clientSecret = generateClientSecret();
    const previousSecretExpiresAt = overlap > 0 ? new Date(Date.now() + overlap * 1000) : null;
    await replaceClientSecret(trx, clientId, {
      hash: hashClientSecret(clientSecret), previousHash: previousSecretExpiresAt ? client.client_secret_hash : null, previousExpiresAt: previousSecretExpiresAt,
    });
    await recordAuditEvent(trx, {
      ...auditBase(context), action: 'client.secret_rotate', target: target(clientId),
      after: { overlap_seconds: overlap, previous_secret_expires_at: previousSecretExpiresAt?.toISOString() ?? null },
    });
    return { clientSecret, previousSecretExpiresAt };
  });
}

/** An owner adds a co-owner: another person holding the developer role. */
export async function addAppOwner(db: Kysely<Database>, context: AdminContext, clientId: string, username: string): Promise<void> {
  await db.transaction().execute(async (trx) => {
    await appInCare(trx, context, clientId, 'client.owner_add');
    const person = await findUserByLogin(trx, username.trim());
    assertThat(person?.status === 'active', () => invalidInput(localizable(`there is no active person with the username ${username}`, 'problem.developer.owner_unknown', { username })));
    const assignments = await scopedAssignmentsOf(trx, { userId: person.id });
    assertThat(assignments.some((assignment) => permissionsOfRole[assignment.role].includes('clients.register')),
      () => invalidInput(localizable(`${person.username} does not hold the developer role`, 'problem.developer.owner_not_developer', { username: person.username })));
    if (!(await insertClientOwner(trx, { client_id: clientId, user_id: person.id, added_by: `${context.principal.actor.type}:${context.principal.actor.id ?? ''}` }))) return;
    await recordAuditEvent(trx, { ...auditBase(context), action: 'client.owner_add', target: target(clientId), after: { user_id: person.id, username: person.username } });
  });
}

function parseOrThrow<Schema extends z.ZodType>(schema: Schema, value: unknown): z.output<Schema> {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw invalidInput(parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; '));
  return parsed.data;
}
