import { sql, type Kysely } from 'kysely';
import { z } from 'zod';

import {
  coveringGrants, insertReviewItems, listAccessReviews, listReviewItems, nearestUnitAdminsOf, reviewersToRemind,
  type AccessReviewRow, type NewReviewItem, type ReviewItemRow,
} from '../db/queries/access-reviews.ts';
import { findActiveClient } from '../db/queries/clients.ts';
import { insertOutboxMails } from '../db/queries/mail-outbox.ts';
import { findOrgUnitById } from '../db/queries/org-units.ts';
import type { Database } from '../db/schema.ts';
import { addLocalizedIssue, AppError, assertThat, conflict, invalidInput, localizable } from '../errors.ts';
import { recordAuditEvent, recordAuditEvents, systemActor, noOrigin, type Actor, type AuditRecord, type RequestOrigin } from './audit.ts';
import { AccessDenied, requirePermission, scopeCovers, scopeOf, subtreeFilter, type AdminContext } from './authorization.ts';
import { idSchema } from './person-fields.ts';

/**
 * Access reviews: a campaign puts each person's access to an app (one app, or every restricted app
 * in a subtree) before a reviewer, who keeps or revokes it. Reviewers are the org admins nearest
 * above each person's unit, or named people; nobody reviews their own access. Reminders go by mail
 * until the due date; at the close, undecided items take the campaign's default, revocations take
 * effect (the person is kept out of the app whatever assignment would cover them), and the result
 * stays as a report an inspector can file.
 */
export interface AccessReviewDeps {
  readonly db: Kysely<Database>;
}

export const accessReviewReminderTemplate = 'access_review_reminder';

/** A due date alone means the end of that day in Vietnam (GMT+7). */
const dueDate = z.string().trim().transform((value, ctx) => {
  const when = new Date(/^\d{4}-\d{2}-\d{2}$/.test(value) ? `${value}T23:59:59+07:00` : value);
  if (Number.isNaN(when.getTime())) {
    addLocalizedIssue(ctx, localizable('due_at is a date (2026-12-31) or a date and time (2026-12-31T17:00:00+07:00)', 'problem.review.due_at_format'));
    return z.NEVER;
  }
  return when;
});

export const accessReviewSchema = z.object({
  name: z.string().trim().min(1, 'a campaign needs a name').max(200),
  client_id: z.string().min(1).max(200).optional(),
  org_unit_id: idSchema.optional(),
  reviewers: z.enum(['unit_admins', 'named']).default('unit_admins'),
  reviewer_usernames: z.array(z.string().trim().min(1).max(200)).max(50).default([]),
  due_at: dueDate,
  default_decision: z.enum(['keep', 'revoke']),
  reminder_days: z.number().int().min(1).max(90).default(3),
}).superRefine((input, ctx) => {
  if (input.client_id === undefined && input.org_unit_id === undefined) {
    addLocalizedIssue(ctx, localizable('name an app (client_id), an org unit (org_unit_id), or both', 'problem.review.scope_missing'), ['client_id']);
  }
  if (input.reviewers === 'named' && input.reviewer_usernames.length === 0) {
    addLocalizedIssue(ctx, localizable('named reviewers need at least one username', 'problem.review.named_without_names'), ['reviewer_usernames']);
  }
  if (input.reviewers === 'unit_admins' && input.reviewer_usernames.length > 0) {
    addLocalizedIssue(ctx, localizable('reviewer_usernames go with reviewers: "named"', 'problem.review.names_without_named'), ['reviewer_usernames']);
  }
});

export const reviewDecisionsSchema = z.object({
  decisions: z.array(z.object({
    item_id: idSchema,
    decision: z.enum(['keep', 'revoke']),
    comment: z.string().trim().max(1000).nullable().optional(),
  })).min(1, 'send at least one decision').max(1000),
});

const target = (id: string) => ({ type: 'access_review', id });
const actorText = (actor: Actor) => `${actor.type}:${actor.id ?? ''}`;

/** Who starts a campaign: over a unit, someone managing reviews there; over an app alone (the whole province), a global one. */
function requireManager(context: AdminContext, unitPath: string | null, action: string, id?: string): void {
  requirePermission(context.principal, 'access_reviews.manage', unitPath, {
    action, ...(id === undefined ? {} : { target: target(id) }),
    message: unitPath === null
      ? 'a campaign over an app across the whole province needs a global administrator; name a unit you administer'
      : 'access reviews are for the part of the org tree you administer',
  });
}

/** Managers read campaigns in their subtree; auditors read them too, to file the result. */
function mayRead(context: AdminContext, review: AccessReviewRow): boolean {
  return scopeCovers(scopeOf(context.principal, 'access_reviews.manage'), review.unit_path)
    || scopeCovers(scopeOf(context.principal, 'audit.read'), review.unit_path);
}

async function reviewFor(db: Kysely<Database>, context: AdminContext, id: string, action: string): Promise<AccessReviewRow> {
  const [review] = await listAccessReviews(db, { id });
  assertThat(review, () => new AppError('not_found', localizable(`no access review with id ${id}`, 'problem.review.not_found', { id }), 404));
  if (!mayRead(context, review)) throw new AccessDenied(localizable('this access review is outside the part of the org tree you administer', 'problem.review.outside_scope'), action, target(id));
  return review;
}

async function namedReviewers(db: Kysely<Database>, usernames: readonly string[]): Promise<string[]> {
  const { rows } = await sql<{ username: string; id: string; status: string; roles: number }>`
    select u.username, u.id::text as id, u.status, (select count(*)::int from role_assignments r where r.user_id = u.id) as roles
    from users u where lower(u.username) = any(${usernames.map((name) => name.toLowerCase())}::text[])`.execute(db);
  const found = new Map(rows.map((row) => [row.username.toLowerCase(), row]));
  return usernames.map((name) => {
    const reviewer = found.get(name.toLowerCase());
    assertThat(reviewer, () => invalidInput(localizable(`reviewer_usernames: there is nobody with the username ${name}`, 'problem.review.reviewer_unknown', { username: name })));
    assertThat(reviewer.status === 'active', () => invalidInput(localizable(`reviewer_usernames: ${name} is not active`, 'problem.review.reviewer_inactive', { username: name })));
    assertThat(reviewer.roles > 0, () => invalidInput(localizable(`reviewer_usernames: ${name} holds no administrator role, so cannot open the admin console to review; give them the auditor role over the subtree first`, 'problem.review.reviewer_without_role', { username: name })));
    return reviewer.id;
  });
}

/** One item per person and app: the roles of every covering assignment, and how each came. */
function itemsFrom(grants: Awaited<ReturnType<typeof coveringGrants>>): Omit<NewReviewItem, 'reviewers'>[] {
  const items = new Map<string, { user_id: string; client_id: string; org_unit_id: string | null; roles: Set<string>; via: Map<string, { kind: string; name: string }> }>();
  for (const grant of grants) {
    const key = `${grant.user_id} ${grant.client_id}`;
    const item = items.get(key) ?? { user_id: grant.user_id, client_id: grant.client_id, org_unit_id: grant.org_unit_id, roles: new Set(), via: new Map() };
    for (const role of typeof grant.roles === 'string' ? JSON.parse(grant.roles) as string[] : grant.roles) item.roles.add(role);
    item.via.set(`${grant.kind} ${grant.holder_name}`, { kind: grant.kind, name: grant.holder_name });
    items.set(key, item);
  }
  return [...items.values()].map((item) => ({
    user_id: item.user_id, client_id: item.client_id, org_unit_id: item.org_unit_id, roles: [...item.roles].sort(), granted_via: [...item.via.values()],
  }));
}

export async function startAccessReview(deps: AccessReviewDeps, context: AdminContext, input: z.output<typeof accessReviewSchema>): Promise<AccessReviewRow> {
  assertThat(input.due_at.getTime() > Date.now(), () => invalidInput(localizable('due_at must be in the future', 'problem.review.due_in_past')));
  return deps.db.transaction().execute(async (trx) => {
    let unitPath: string | null = null;
    if (input.org_unit_id !== undefined) {
      const unit = await findOrgUnitById(trx, input.org_unit_id);
      assertThat(unit, () => invalidInput(localizable(`org_unit_id: there is no org unit with id ${input.org_unit_id ?? ''}`, 'problem.org_unit.no_such_unit', { id: input.org_unit_id ?? '' })));
      unitPath = unit.path;
    }
    requireManager(context, unitPath, 'access_review.start');
    if (input.client_id !== undefined) {
      const client = await findActiveClient(trx, input.client_id);
      assertThat(client, () => invalidInput(localizable(`client_id: no active app with client id ${input.client_id ?? ''}`, 'problem.client.not_active', { id: input.client_id ?? '' })));
      const appName = (client.metadata['client_name'] as string | undefined) ?? client.client_id;
      assertThat(client.access_policy === 'restricted', () => conflict(localizable(
        `${appName} is open to every active person, so there is no access to review; restrict it to assignments first`, 'problem.review.app_open', { app: appName },
      )));
    }
    const named = input.reviewers === 'named' ? await namedReviewers(trx, input.reviewer_usernames) : [];
    const items = itemsFrom(await coveringGrants(trx, { clientId: input.client_id ?? null, unitPath }));
    assertThat(items.length > 0, () => conflict(localizable('nobody to review: no restricted app assignment covers anyone in this campaign\'s scope', 'problem.review.nobody')));

    const creator = context.principal.actor.type === 'user' ? context.principal.actor.id : null;
    const unitAdmins = input.reviewers === 'unit_admins' ? await nearestUnitAdminsOf(trx, [...new Set(items.map((item) => item.user_id))]) : new Map<string, string[]>();
    // Nobody reviews their own access; whoever has nobody else falls to the campaign's creator.
    const reviewersOf = (userId: string) => {
      const chosen = (input.reviewers === 'named' ? named : unitAdmins.get(userId) ?? []).filter((id) => id !== userId);
      return chosen.length > 0 || creator === null || creator === userId ? chosen : [creator];
    };

    const [created] = await trx.insertInto('access_reviews').values({
      name: input.name, client_id: input.client_id ?? null, org_unit_id: input.org_unit_id ?? null, reviewers: input.reviewers,
      default_decision: input.default_decision, due_at: input.due_at, reminder_days: input.reminder_days,
      created_by: actorText(context.principal.actor), created_by_user_id: creator,
    }).returning(sql<string>`id::text`.as('id')).execute();
    const id = created!.id;
    await insertReviewItems(trx, id, items.map((item) => ({ ...item, reviewers: reviewersOf(item.user_id) })));
    await recordAuditEvent(trx, {
      actor: context.principal.actor, origin: context.origin, action: 'access_review.start', target: target(id), orgUnitId: input.org_unit_id ?? null,
      after: {
        name: input.name, client_id: input.client_id ?? null, org_unit_id: input.org_unit_id ?? null, reviewers: input.reviewers,
        default_decision: input.default_decision, due_at: input.due_at.toISOString(), items: items.length,
      },
    });
    const [review] = await listAccessReviews(trx, { id });
    return review!;
  });
}

export async function listReviewsInScope(deps: AccessReviewDeps, context: AdminContext): Promise<AccessReviewRow[]> {
  const manage = scopeOf(context.principal, 'access_reviews.manage');
  const audit = scopeOf(context.principal, 'audit.read');
  if (manage.global || audit.global) return listAccessReviews(deps.db);
  const subtrees = [...(subtreeFilter(manage) ?? []), ...(subtreeFilter(audit) ?? [])];
  return listAccessReviews(deps.db, { subtrees });
}

export async function getAccessReview(deps: AccessReviewDeps, context: AdminContext, id: string): Promise<{ review: AccessReviewRow; items: ReviewItemRow[] }> {
  const review = await reviewFor(deps.db, context, id, 'access_review.read');
  return { review, items: await listReviewItems(deps.db, { reviewId: id }) };
}

/** The items waiting for the signed-in reviewer (in open campaigns), or all of theirs in one campaign. */
export async function itemsOfReviewer(deps: AccessReviewDeps, context: AdminContext, filter: { reviewId?: string; undecidedOnly?: boolean } = {}): Promise<ReviewItemRow[]> {
  const reviewer = context.principal.actor.type === 'user' ? context.principal.actor.id : null;
  if (reviewer === null) return [];
  return listReviewItems(deps.db, { reviewerId: reviewer, openOnly: true, ...filter });
}

/** A reviewer keeps or revokes their items; decisions can change until the campaign closes. */
export async function decideReviewItems(deps: AccessReviewDeps, context: AdminContext, input: z.output<typeof reviewDecisionsSchema>): Promise<number> {
  const reviewer = context.principal.actor.type === 'user' ? context.principal.actor.id : null;
  assertThat(reviewer, () => new AccessDenied(localizable('only a person named as reviewer decides review items', 'problem.review.not_a_person'), 'access_review.decide'));
  return deps.db.transaction().execute(async (trx) => {
    const ids = [...new Set(input.decisions.map((decision) => decision.item_id))];
    const mine = new Map((await listReviewItems(trx, { reviewerId: reviewer, itemIds: ids, openOnly: true })).map((item) => [item.id, item]));
    const notMine = ids.filter((id) => !mine.has(id));
    if (notMine.length > 0) {
      throw new AccessDenied(localizable(`you are not the reviewer of item ${notMine[0]!}, or its campaign is closed`, 'problem.review.not_your_item'), 'access_review.decide', { type: 'access_review_item', id: notMine[0]! });
    }
    for (const decision of input.decisions) {
      await trx.updateTable('access_review_items').set({
        decision: decision.decision, comment: decision.comment ?? null, decided_by: reviewer, decided_at: sql<Date>`now()`,
      }).where(sql<boolean>`id::text = ${decision.item_id}`).execute();
    }
    const reviewIds = [...new Set([...mine.values()].map((item) => item.review_id))];
    await recordAuditEvents(trx, reviewIds.map((reviewId) => ({
      actor: context.principal.actor, origin: context.origin, action: 'access_review.decide', target: target(reviewId),
      details: {
        decisions: input.decisions.filter((decision) => mine.get(decision.item_id)?.review_id === reviewId).map((decision) => ({
          item_id: decision.item_id, user_id: mine.get(decision.item_id)!.user_id, client_id: mine.get(decision.item_id)!.client_id, decision: decision.decision,
        })),
      },
    })));
    return input.decisions.length;
  });
}

interface Closer {
  readonly actor: Actor;
  readonly origin: RequestOrigin;
}

/**
 * Closes a campaign in one transaction: undecided items take its default, every revocation takes
 * effect (direct assignments removed, an exclusion against the rest), one audit event per revoked
 * access and one for the campaign.
 */
async function close(db: Kysely<Database>, id: string, closer: Closer): Promise<{ kept: number; revoked: number; byDefault: number }> {
  return db.transaction().execute(async (trx) => {
    const locked = await trx.selectFrom('access_reviews').select(['status', 'default_decision', 'org_unit_id']).where(sql<boolean>`id::text = ${id}`).forUpdate().executeTakeFirst();
    assertThat(locked, () => new AppError('not_found', localizable(`no access review with id ${id}`, 'problem.review.not_found', { id }), 404));
    assertThat(locked.status === 'open', () => conflict(localizable('this access review is closed already', 'problem.review.closed')));
    const byDefault = await trx.updateTable('access_review_items')
      .set({ decision: locked.default_decision, decided_by_default: true, decided_at: sql<Date>`now()` })
      .where(sql<boolean>`review_id::text = ${id}`).where('decision', 'is', null).executeTakeFirst();
    const revoked = await trx.selectFrom('access_review_items as i').innerJoin('users as u', 'u.id', 'i.user_id')
      .select(['i.user_id', 'i.client_id', 'i.org_unit_id', 'u.username'])
      .where(sql<boolean>`i.review_id::text = ${id}`).where('i.decision', '=', 'revoke').execute();
    if (revoked.length > 0) {
      await sql`delete from app_assignments a using unnest(${revoked.map((item) => item.client_id)}::text[], ${revoked.map((item) => item.user_id)}::uuid[]) as r(client_id, user_id)
        where a.client_id = r.client_id and a.user_id = r.user_id`.execute(trx);
      await sql`insert into app_access_exclusions (client_id, user_id, review_id, created_by)
        select r.client_id, r.user_id, ${id}::uuid, ${actorText(closer.actor)} from unnest(${revoked.map((item) => item.client_id)}::text[], ${revoked.map((item) => item.user_id)}::uuid[]) as r(client_id, user_id)
        on conflict do nothing`.execute(trx);
    }
    const total = await trx.selectFrom('access_review_items').select((eb) => eb.fn.countAll<string>().as('count')).where(sql<boolean>`review_id::text = ${id}`).executeTakeFirstOrThrow();
    await trx.updateTable('access_reviews').set({ status: 'closed', closed_at: sql<Date>`now()`, closed_by: actorText(closer.actor) }).where(sql<boolean>`id::text = ${id}`).execute();
    const outcome = { kept: Number(total.count) - revoked.length, revoked: revoked.length, byDefault: Number(byDefault.numUpdatedRows) };
    const events: AuditRecord[] = revoked.map((item) => ({
      actor: closer.actor, origin: closer.origin, action: 'app.access_revoked', target: { type: 'client', id: item.client_id }, orgUnitId: item.org_unit_id,
      details: { user_id: item.user_id, username: item.username, access_review_id: id },
    }));
    events.push({
      actor: closer.actor, origin: closer.origin, action: 'access_review.close', target: target(id), orgUnitId: locked.org_unit_id,
      after: { kept: outcome.kept, revoked: outcome.revoked, decided_by_default: outcome.byDefault, default_decision: locked.default_decision },
    });
    await recordAuditEvents(trx, events);
    return outcome;
  });
}

export async function closeAccessReview(deps: AccessReviewDeps, context: AdminContext, id: string): Promise<{ kept: number; revoked: number; byDefault: number }> {
  const review = await reviewFor(deps.db, context, id, 'access_review.close');
  requireManager(context, review.unit_path, 'access_review.close', id);
  return close(deps.db, id, { actor: context.principal.actor, origin: context.origin });
}

/** The scheduled step: campaigns past their due date close on their own. */
export async function closeDueAccessReviews(deps: AccessReviewDeps, now: Date): Promise<number> {
  const due = await deps.db.selectFrom('access_reviews').select(sql<string>`id::text`.as('id')).where('status', '=', 'open').where('due_at', '<=', now).execute();
  for (const { id } of due) await close(deps.db, id, { actor: systemActor, origin: noOrigin });
  return due.length;
}

/** The scheduled step: one mail per reviewer with undecided items, every `reminder_days` days per campaign. */
export async function remindAccessReviewers(deps: AccessReviewDeps, now: Date): Promise<number> {
  const reminders = await reviewersToRemind(deps.db, now);
  if (reminders.length === 0) return 0;
  return deps.db.transaction().execute(async (trx) => {
    const mails = reminders.filter((reminder) => reminder.email !== null).map((reminder) => ({
      id: crypto.randomUUID(), recipient: reminder.email!, template: accessReviewReminderTemplate, secret_sealed: null,
      params: { full_name: reminder.full_name, username: reminder.username, review_name: reminder.review_name, items: String(reminder.items), due_at: reminder.due_at.toISOString() },
    }));
    await insertOutboxMails(trx, mails);
    await trx.updateTable('access_reviews').set({ last_reminded_at: now }).where(sql<boolean>`id::text = any(${[...new Set(reminders.map((reminder) => reminder.review_id))]})`).execute();
    return mails.length;
  });
}

/** The result, for an inspector to file (the HTTP layer writes it as CSV): every item, its decision, who made it and when. */
export async function accessReviewReport(deps: AccessReviewDeps, context: AdminContext, id: string): Promise<{ header: string[]; rows: string[][] }> {
  const { review, items } = await getAccessReview(deps, context, id);
  const header = ['campaign', 'status', 'username', 'full_name', 'unit', 'app', 'roles', 'granted_via', 'last_login_at', 'decision', 'by_default', 'decided_by', 'decided_at', 'comment'];
  const rows = items.map((item) => [
    review.name, review.status, item.username, item.full_name, item.unit_name ?? '', item.app_name, item.roles.join(' '),
    item.granted_via.map((via) => `${via.kind}: ${via.name}`).join('; '), item.last_login_at?.toISOString() ?? '',
    item.decision ?? '', item.decided_by_default ? 'yes' : 'no', item.decided_by_name ?? '', item.decided_at?.toISOString() ?? '', item.comment ?? '',
  ]);
  return { header, rows };
}
