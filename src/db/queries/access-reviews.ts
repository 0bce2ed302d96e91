import { sql, type Kysely } from 'kysely';

import type { AccessReview, Database, ReviewDecision } from '../schema.ts';
import { pathInSubtrees } from './scope.ts';

export interface AccessReviewRow extends AccessReview {
  readonly app_name: string | null;
  readonly unit_name: string | null;
  readonly unit_path: string | null;
  readonly items: number;
  readonly decided: number;
  readonly revoked: number;
}

const reviewRow = sql`r.*, coalesce(c.metadata->>'client_name', c.client_id) as app_name, unit.name as unit_name, unit.path as unit_path,
  (select count(*)::int from access_review_items i where i.review_id = r.id) as items,
  (select count(*)::int from access_review_items i where i.review_id = r.id and i.decision is not null) as decided,
  (select count(*)::int from access_review_items i where i.review_id = r.id and i.decision = 'revoke') as revoked`;

/** Campaigns, newest first; `subtrees` keeps those over a unit inside them (null: all). */
export async function listAccessReviews(db: Kysely<Database>, filter: { id?: string; subtrees?: readonly string[] | null } = {}): Promise<AccessReviewRow[]> {
  const { rows } = await sql<AccessReviewRow>`
    select ${reviewRow} from access_reviews r
    left join clients c on c.client_id = r.client_id
    left join org_units unit on unit.id = r.org_unit_id
    where ${filter.id === undefined ? sql`true` : sql`r.id::text = ${filter.id}`}
      and ${filter.subtrees === undefined || filter.subtrees === null ? sql`true` : pathInSubtrees(sql.ref('unit.path'), filter.subtrees)}
    order by r.created_at desc
    limit 500`.execute(db);
  return rows;
}

/** One person's access to one app and how it came: one row per covering assignment. */
export interface CoveringGrant {
  readonly user_id: string;
  readonly client_id: string;
  readonly org_unit_id: string | null;
  readonly kind: 'unit' | 'group' | 'person';
  readonly holder_name: string;
  readonly roles: string[] | string;
}

/**
 * Who a campaign reviews: every person not disabled (in the subtree, when it names one) whom an
 * assignment of a restricted, active app (the one app, when it names one) covers, unless a review
 * already took them out of it.
 */
export async function coveringGrants(db: Kysely<Database>, scope: { clientId: string | null; unitPath: string | null }): Promise<CoveringGrant[]> {
  const { rows } = await sql<CoveringGrant>`
    with people as (
      select u.id, u.primary_org_unit_id from users u left join org_units home on home.id = u.primary_org_unit_id
      where u.status not in ('disabled', 'merged') and ${scope.unitPath === null ? sql`true` : sql`home.path like ${`${scope.unitPath}%`}`}
    ),
    apps as (
      select client_id from clients where status = 'active' and access_policy = 'restricted'
        and ${scope.clientId === null ? sql`true` : sql`client_id = ${scope.clientId}`}
    ),
    served as (
      select id as user_id, primary_org_unit_id as unit_id from people where primary_org_unit_id is not null
      union select m.user_id, m.org_unit_id from user_org_units m where m.user_id in (select id from people)
    ),
    covering as (
      select p.id as user_id, a.client_id, 'person' as kind, a.roles, a.user_id as holder_user, null::uuid as holder_group, null::uuid as holder_unit
        from people p join app_assignments a on a.user_id = p.id
      union all
      select m.user_id, a.client_id, 'group', a.roles, null::uuid, a.group_id, null::uuid
        from group_members m join app_assignments a on a.group_id = m.group_id where m.user_id in (select id from people)
      union all
      select distinct s.user_id, a.client_id, 'unit', a.roles, null::uuid, null::uuid, a.org_unit_id
        from served s join org_units here on here.id = s.unit_id
        join org_units above on left(here.path, length(above.path)) = above.path
        join app_assignments a on a.org_unit_id = above.id
    )
    select c.user_id::text as user_id, c.client_id, p.primary_org_unit_id::text as org_unit_id, c.kind,
      coalesce(holder_user.full_name, holder_group.name, holder_unit.name) as holder_name, c.roles
    from covering c
    join people p on p.id = c.user_id
    left join users holder_user on holder_user.id = c.holder_user
    left join groups holder_group on holder_group.id = c.holder_group
    left join org_units holder_unit on holder_unit.id = c.holder_unit
    where c.client_id in (select client_id from apps)
      and not exists (select 1 from app_access_exclusions x where x.client_id = c.client_id and x.user_id = c.user_id)
    order by c.user_id, c.client_id`.execute(db);
  return rows;
}

/**
 * For each person, the org admins nearest above their primary unit (not the person themselves):
 * the "unit admins of each person's unit" who review them.
 */
export async function nearestUnitAdminsOf(db: Kysely<Database>, userIds: readonly string[]): Promise<Map<string, string[]>> {
  if (userIds.length === 0) return new Map();
  const { rows } = await sql<{ user_id: string; admin_id: string }>`
    select user_id, admin_id from (
      select person.id::text as user_id, admin.id::text as admin_id,
        rank() over (partition by person.id order by length(scope.path) desc) as nearness
      from users person
      join org_units home on home.id = person.primary_org_unit_id
      join role_assignments r on r.role = 'org_admin' and r.user_id is not null and r.user_id <> person.id
      join org_units scope on scope.id = r.org_unit_id and left(home.path, length(scope.path)) = scope.path
      join users admin on admin.id = r.user_id and admin.status = 'active'
      where person.id = any(${[...userIds]}::uuid[])
    ) ranked where nearness = 1`.execute(db);
  const admins = new Map<string, string[]>();
  for (const row of rows) admins.set(row.user_id, [...(admins.get(row.user_id) ?? []), row.admin_id]);
  return admins;
}

export interface NewReviewItem {
  readonly user_id: string;
  readonly client_id: string;
  readonly org_unit_id: string | null;
  readonly roles: readonly string[];
  readonly granted_via: readonly { kind: string; name: string }[];
  readonly reviewers: readonly string[];
}

/** Writes a campaign's items and their reviewers, a thousand at a time (arrays through unnest). */
export async function insertReviewItems(trx: Kysely<Database>, reviewId: string, items: readonly NewReviewItem[]): Promise<void> {
  for (let start = 0; start < items.length; start += 1000) {
    const batch = items.slice(start, start + 1000);
    const { rows } = await sql<{ id: string; user_id: string; client_id: string }>`
      insert into access_review_items (review_id, user_id, client_id, org_unit_id, roles, granted_via)
      select ${reviewId}::uuid, * from unnest(
        ${batch.map((item) => item.user_id)}::uuid[], ${batch.map((item) => item.client_id)}::text[], ${batch.map((item) => item.org_unit_id)}::uuid[],
        ${batch.map((item) => JSON.stringify(item.roles))}::jsonb[], ${batch.map((item) => JSON.stringify(item.granted_via))}::jsonb[]
      )
      returning id::text as id, user_id::text as user_id, client_id`.execute(trx);
    const reviewersOf = new Map(batch.map((item) => [`${item.user_id} ${item.client_id}`, item.reviewers]));
    const pairs = rows.flatMap((row) => (reviewersOf.get(`${row.user_id} ${row.client_id}`) ?? []).map((reviewer) => [row.id, reviewer] as const));
    if (pairs.length > 0) {
      await sql`insert into access_review_reviewers (item_id, reviewer_id)
        select * from unnest(${pairs.map((pair) => pair[0])}::uuid[], ${pairs.map((pair) => pair[1])}::uuid[])`.execute(trx);
    }
  }
}

export interface ReviewItemRow {
  readonly id: string;
  readonly review_id: string;
  readonly review_name: string;
  readonly review_due_at: Date;
  readonly user_id: string;
  readonly username: string;
  readonly full_name: string;
  readonly unit_name: string | null;
  readonly client_id: string;
  readonly app_name: string;
  readonly roles: string[];
  readonly granted_via: { kind: 'unit' | 'group' | 'person'; name: string }[];
  readonly last_login_at: Date | null;
  readonly decision: ReviewDecision | null;
  readonly comment: string | null;
  readonly decided_by_name: string | null;
  readonly decided_at: Date | null;
  readonly decided_by_default: boolean;
  readonly reviewer_names: string | null;
}

/** A campaign's items: all, or those one reviewer holds; undecided first, then by name. */
export async function listReviewItems(
  db: Kysely<Database>,
  filter: { reviewId?: string; reviewerId?: string; itemIds?: readonly string[]; undecidedOnly?: boolean; openOnly?: boolean },
  limit = 100_000,
): Promise<ReviewItemRow[]> {
  const { rows } = await sql<ReviewItemRow>`
    select i.id::text as id, i.review_id::text as review_id, review.name as review_name, review.due_at as review_due_at, i.user_id::text as user_id, person.username, person.full_name, unit.name as unit_name,
      i.client_id, coalesce(c.metadata->>'client_name', c.client_id) as app_name, i.roles, i.granted_via, person.last_login_at,
      i.decision, i.comment, decider.full_name as decided_by_name, i.decided_at, i.decided_by_default,
      (select string_agg(reviewer.full_name, ', ' order by reviewer.full_name) from access_review_reviewers rr
        join users reviewer on reviewer.id = rr.reviewer_id where rr.item_id = i.id) as reviewer_names
    from access_review_items i
    join access_reviews review on review.id = i.review_id
    join users person on person.id = i.user_id
    join clients c on c.client_id = i.client_id
    left join org_units unit on unit.id = i.org_unit_id
    left join users decider on decider.id = i.decided_by
    where ${filter.reviewId === undefined ? sql`true` : sql`i.review_id::text = ${filter.reviewId}`}
      and ${filter.reviewerId === undefined ? sql`true` : sql`exists (select 1 from access_review_reviewers rr where rr.item_id = i.id and rr.reviewer_id::text = ${filter.reviewerId})`}
      and ${filter.itemIds === undefined ? sql`true` : sql`i.id = any(${[...filter.itemIds]}::uuid[])`}
      and ${filter.undecidedOnly === true ? sql`i.decision is null` : sql`true`}
      and ${filter.openOnly === true ? sql`review.status = 'open'` : sql`true`}
    order by i.decision is not null, person.family_name_sort, person.given_name_sort, app_name
    limit ${limit}`.execute(db);
  return rows.map((row) => ({
    ...row,
    roles: typeof row.roles === 'string' ? JSON.parse(row.roles) as string[] : row.roles,
    granted_via: typeof row.granted_via === 'string' ? JSON.parse(row.granted_via) as ReviewItemRow['granted_via'] : row.granted_via,
  }));
}

/** Reviewers with undecided items in open campaigns due to be reminded, and how many items each holds. */
export async function reviewersToRemind(db: Kysely<Database>, now: Date): Promise<{ review_id: string; review_name: string; due_at: Date; user_id: string; full_name: string; email: string | null; username: string; items: number }[]> {
  const { rows } = await sql<{ review_id: string; review_name: string; due_at: Date; user_id: string; full_name: string; email: string | null; username: string; items: number }>`
    select review.id::text as review_id, review.name as review_name, review.due_at, reviewer.id::text as user_id, reviewer.full_name, reviewer.email, reviewer.username,
      count(*)::int as items
    from access_reviews review
    join access_review_items i on i.review_id = review.id and i.decision is null
    join access_review_reviewers rr on rr.item_id = i.id
    join users reviewer on reviewer.id = rr.reviewer_id and reviewer.status = 'active'
    where review.status = 'open' and review.due_at > ${now}
      and (review.last_reminded_at is null or review.last_reminded_at <= ${now}::timestamptz - make_interval(days => review.reminder_days))
    group by review.id, reviewer.id
    order by review.id, reviewer.username`.execute(db);
  return rows;
}
