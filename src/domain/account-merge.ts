import type { Kysely } from 'kysely';

import {
  appsKnowingAccount, insertSubjectAliases, lockUsersForMerge, markMerged, moveMembershipsToSurvivor, moveSubjectAliases, subjectAliasesOf,
} from '../db/queries/directory-merge.ts';
import type { Database, DuplicateRule, User } from '../db/schema.ts';
import { assertThat, conflict, invalidInput, localizable } from '../errors.ts';
import { recordAuditEvent, type Actor, type RequestOrigin } from './audit.ts';
import { maskNationalId } from './person-fields.ts';
import { refuseSodViolations } from './separation-of-duties.ts';
import { endEverything } from './sessions.ts';
import type { BackchannelLogout } from './users.ts';

/**
 * Merging one account into another (the directory merge, domain/directory-merge.ts, confirms it).
 * The merged-away account stays as history (status merged, merged_into the survivor); its units,
 * groups, app assignments, admin roles, the apps it owns and the apps an access review took from it
 * move to the survivor where the survivor lacks them, and its pending personnel decisions apply to
 * the survivor; its
 * sessions, grants and tokens end, with back-channel logout; the person signs in with the
 * survivor's credentials from then on.
 *
 * `sub` never changes for an app that already knows the person (subject_aliases):
 * - an app that knew the survivor keeps the survivor's sub (its own id, or the alias it already had);
 * - an app that knew only the merged-away account keeps the merged-away account's sub: an alias
 *   (app, merged-away sub, survivor) is written, and oidc/subject-aliases.ts hands it out;
 * - an app that knew both keeps the survivor's sub: its live tokens already carry it, and the
 *   merged-away account's have just been revoked;
 * - an app that knew neither sees the survivor's id.
 * Which apps "knew" an account is read from what the database keeps (appsKnowingAccount): sign-ins
 * in the audit log, grants, back-channel logouts sent, and aliases from earlier merges.
 */

export interface AccountMergeDeps {
  readonly backchannelLogout: BackchannelLogout;
}

export interface AccountMergeOutcome {
  readonly survivorId: string;
  readonly mergedUserId: string;
  readonly moved: { units: number; groups: number; app_assignments: number; roles: number };
  /** The apps that keep seeing the merged-away account's sub for the survivor. */
  readonly aliasedApps: readonly string[];
  readonly revokedArtifacts: number;
}

const mergedIntoItself = localizable('an account cannot be merged into itself', 'problem.merge.into_itself');

/** Why a pair cannot be merged, checked when it is proposed and again, under lock, when it is confirmed. */
export function assertMergeable(merged: Pick<User, 'id' | 'status'>, survivor: Pick<User, 'id' | 'status'>): void {
  assertThat(merged.id !== survivor.id, invalidInput(mergedIntoItself));
  assertThat(merged.status !== 'merged', conflict(localizable('this account has already been merged into another', 'problem.merge.already_merged')));
  assertThat(survivor.status !== 'merged', conflict(localizable('the account to keep has itself been merged into another; merge into that one', 'problem.merge.survivor_merged')));
  assertThat(survivor.status !== 'disabled', conflict(localizable('the account to keep is disabled; enable it first or keep the other one', 'problem.merge.survivor_disabled')));
}

/** Merges `mergedUserId` into `survivorId` in the caller's transaction, audited as one event. */
export async function mergeAccounts(
  trx: Kysely<Database>,
  deps: AccountMergeDeps,
  pair: { mergedUserId: string; survivorId: string; rule: DuplicateRule; candidateId: string },
  audit: { actor: Actor; origin: RequestOrigin },
): Promise<AccountMergeOutcome> {
  assertThat(pair.mergedUserId !== pair.survivorId, invalidInput(mergedIntoItself));
  const locked = await lockUsersForMerge(trx, [pair.mergedUserId, pair.survivorId]);
  const merged = locked.find((user) => user.id === pair.mergedUserId);
  const survivor = locked.find((user) => user.id === pair.survivorId);
  assertThat(merged && survivor, conflict(localizable('one of the two accounts no longer exists', 'problem.merge.account_gone')));
  assertMergeable(merged, survivor);

  const aliasedApps = await carrySubjects(trx, merged.id, survivor.id);
  const moved = await moveMembershipsToSurvivor(trx, merged.id, survivor.id);
  // The roles the two accounts held apart may be two that one person must not hold together.
  await refuseSodViolations(trx, { userIds: [survivor.id] }, { action: 'user.merge', target: { type: 'user', id: survivor.id }, orgUnitId: survivor.primary_org_unit_id });
  const { notify, revoked } = await endEverything(trx, merged.id);
  await markMerged(trx, merged, survivor);
  const queued = notify.length > 0 ? await deps.backchannelLogout(trx, merged.id, notify) : [];
  await recordAuditEvent(trx, {
    ...audit,
    action: 'user.merge',
    target: { type: 'user', id: survivor.id },
    orgUnitId: survivor.primary_org_unit_id,
    before: {
      merged_user: {
        id: merged.id, username: merged.username, full_name: merged.full_name, email: merged.email, phone: merged.phone,
        employee_code: merged.employee_code, national_id: merged.national_id === null ? null : maskNationalId(merged.national_id),
        status: merged.status, org_unit_id: merged.primary_org_unit_id,
      },
    },
    after: { merged_user: { id: merged.id, status: 'merged', merged_into: survivor.id } },
    details: {
      candidate_id: pair.candidateId, rule: pair.rule, moved, subject_aliases: aliasedApps, revoked_artifacts: revoked,
      backchannel_logout: queued.map((call) => ({ client_id: call.clientId, delivery_id: call.deliveryId })),
    },
  });
  return { survivorId: survivor.id, mergedUserId: merged.id, moved, aliasedApps, revokedArtifacts: revoked };
}

/** Writes the aliases that keep each app's `sub` (the rule above); answers the apps given the merged-away sub. */
async function carrySubjects(trx: Kysely<Database>, mergedId: string, survivorId: string): Promise<string[]> {
  const [survivorDirect, survivorAliases, mergedDirect, mergedAliases] = await Promise.all([
    appsKnowingAccount(trx, survivorId), subjectAliasesOf(trx, survivorId), appsKnowingAccount(trx, mergedId), subjectAliasesOf(trx, mergedId),
  ]);
  const knowSurvivor = new Set([...survivorDirect, ...survivorAliases.map((alias) => alias.client_id)]);
  // An app that knew the merged-away account by an alias (an earlier merge) keeps that alias.
  const carried = mergedAliases.filter((alias) => !knowSurvivor.has(alias.client_id)).map((alias) => alias.client_id);
  await moveSubjectAliases(trx, mergedId, survivorId, carried);
  const fresh = mergedDirect.filter((clientId) => !knowSurvivor.has(clientId) && !carried.includes(clientId));
  await insertSubjectAliases(trx, fresh.map((clientId) => ({ clientId, aliasSub: mergedId, userId: survivorId })));
  return [...carried, ...fresh].sort();
}
