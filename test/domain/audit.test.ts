import { setTimeout as sleep } from 'node:timers/promises';

import { sql, type Kysely, type Updateable } from 'kysely';
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';

import { auditEventsAfter, insertAuditEvents, listAuditEvents, nextAuditEventIds, type AuditEventFilter } from '../../src/db/queries/audit-events.ts';
import { insertOrgUnit } from '../../src/db/queries/org-units.ts';
import type { AuditEvent, AuditEventsTable, Database, OrgUnit } from '../../src/db/schema.ts';
import { chainHash, genesisHash, recordAuditEvent, recordAuditEvents, verifyAuditChain, type AuditRecord } from '../../src/domain/audit.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';

let database: TestDatabase;

beforeAll(async () => {
  database = await createTestDatabase();
});

afterAll(async () => {
  await database.close();
});

/**
 * Changes the log the way someone with the table owner's rights could: the append-only triggers
 * lifted for one transaction, so that a failing test cannot leave them off.
 */
async function asTableOwner(tamper: (trx: Kysely<Database>) => Promise<unknown>): Promise<void> {
  await database.db.transaction().execute(async (trx) => {
    await sql`alter table audit_events disable trigger user`.execute(trx);
    await tamper(trx);
    await sql`alter table audit_events enable trigger user`.execute(trx);
  });
}

beforeEach(async () => {
  // Every test tells its own story from an empty log.
  await asTableOwner(async (trx) => {
    await trx.deleteFrom('audit_events').execute();
    await trx.updateTable('audit_chain_head').set({ last_id: null, hash: genesisHash, count: 0 }).execute();
  });
});

const staffMember: AuditRecord['actor'] = { type: 'user', id: 'user-hoa', name: 'Nguyễn Thị Hoa' };
const origin: AuditRecord['origin'] = { ip: '203.0.113.7', userAgent: 'Mozilla/5.0 (X11; Linux x86_64)', requestId: 'req-1' };

async function record(event: Partial<AuditRecord> = {}): Promise<void> {
  await recordAuditEvent(database.db, { actor: staffMember, origin, action: 'user.update', ...event });
}

/** `count` events, each with its own action, so that rows are told apart. */
async function recordMany(count: number): Promise<AuditEvent[]> {
  for (let n = 1; n <= count; n += 1) await record({ action: `user.update.${n}`, after: { step: n } });
  return wholeChain();
}

/** Every row, in chain (id) order. */
const wholeChain = () => auditEventsAfter(database.db, null, 10_000);

/** Overwrites one row's columns, bypassing the triggers. */
const overwrite = (trx: Kysely<Database>, id: string, fields: Updateable<AuditEventsTable>) =>
  trx.updateTable('audit_events').set(fields).where(sql<boolean>`id = ${id}::bigint`).execute();

const removeRow = (trx: Kysely<Database>, id: string) => trx.deleteFrom('audit_events').where(sql<boolean>`id = ${id}::bigint`).execute();

/** `row` without the named columns. */
function without<Row extends object, Key extends keyof Row>(row: Row, ...keys: Key[]): Omit<Row, Key> {
  return Object.fromEntries(Object.entries(row).filter(([key]) => !keys.includes(key as Key))) as Omit<Row, Key>;
}

/** The database error that `promise` rejects with; fails the test when it resolves. */
async function databaseErrorOf(promise: Promise<unknown>): Promise<{ code?: string; message: string }> {
  const error: unknown = await promise.then(
    () => {
      throw new Error('expected the database to refuse');
    },
    (rejection: unknown) => rejection,
  );
  expect(error).toBeInstanceOf(Error);
  return error as { code?: string; message: string };
}

describe('recording and verifying the audit chain', () => {
  it('reports an empty log as intact, having checked nothing', async () => {
    expect(await verifyAuditChain(database.db)).toEqual({ ok: true, checked: 0 });
  });

  it('vouches for every recorded event, each linked to the one before it', async () => {
    await record({ action: 'user.create', target: { type: 'user', id: 'u-1' }, after: { username: 'hoa' } });
    await record({ action: 'login.failure', outcome: 'failure', actor: { type: 'anonymous', id: null, name: null } });
    await record({ action: 'role.grant', target: { type: 'user', id: 'u-1' }, details: { role: 'auditor' } });

    expect(await verifyAuditChain(database.db)).toEqual({ ok: true, checked: 3 });
    const rows = await wholeChain();
    expect(rows.map((row) => row.prev_hash)).toEqual([genesisHash, rows[0]!.hash, rows[1]!.hash]);
    expect(rows[0]).toMatchObject({
      actor_type: 'user', actor_id: 'user-hoa', actor_name: 'Nguyễn Thị Hoa', action: 'user.create', outcome: 'success',
      target_type: 'user', target_id: 'u-1', before: null, after: { username: 'hoa' }, details: null,
      ip: '203.0.113.7', user_agent: 'Mozilla/5.0 (X11; Linux x86_64)', request_id: 'req-1',
    });
    expect(rows[1]).toMatchObject({ actor_type: 'anonymous', actor_id: null, outcome: 'failure', target_type: null });
  });

  it('leaves no event behind when the transaction that recorded it rolls back, together with the change', async () => {
    await record({ action: 'before.rollback' });
    const rolledBack = database.db.transaction().execute(async (trx) => {
      const unit = await insertOrgUnit(trx, { code: 'ROLLBACK-1', name: 'Phường bị hủy', kind: 'commune', parent: null });
      await recordAuditEvent(trx, { actor: staffMember, origin, action: 'org_unit.create', orgUnitId: unit.id });
      throw new Error('the change failed after it was recorded');
    });
    await expect(rolledBack).rejects.toThrow('the change failed after it was recorded');
    await record({ action: 'after.rollback' });

    expect((await wholeChain()).map((row) => row.action)).toEqual(['before.rollback', 'after.rollback']);
    expect(await database.db.selectFrom('org_units').select('id').where('code', '=', 'ROLLBACK-1').executeTakeFirst()).toBeUndefined();
    expect(await verifyAuditChain(database.db)).toEqual({ ok: true, checked: 2 });
  });

  it('shows an event recorded inside a transaction once that transaction commits, together with the change', async () => {
    const unit = await database.db.transaction().execute(async (trx) => {
      const created = await insertOrgUnit(trx, { code: 'COMMIT-1', name: 'Trạm Y tế xã Mỹ Phong', kind: 'health_station', parent: null });
      await recordAuditEvent(trx, { actor: staffMember, origin, action: 'org_unit.create', orgUnitId: created.id, target: { type: 'org_unit', id: created.id } });
      await recordAuditEvent(trx, { actor: staffMember, origin, action: 'org_unit.update', orgUnitId: created.id });
      return created;
    });

    expect(await wholeChain()).toMatchObject([
      { action: 'org_unit.create', org_unit_id: unit.id, target_id: unit.id },
      { action: 'org_unit.update', org_unit_id: unit.id },
    ]);
    expect(await verifyAuditChain(database.db)).toEqual({ ok: true, checked: 2 });
  });

  it('keeps one unbroken chain when 50 events are recorded at the same time', async () => {
    await Promise.all(Array.from({ length: 50 }, (_, n) => record({ action: `login.success.${n}` })));

    expect(await verifyAuditChain(database.db)).toEqual({ ok: true, checked: 50 });
    const rows = await wholeChain();
    expect(new Set(rows.map((row) => row.prev_hash)).size).toBe(50);
    expect(new Set(rows.map((row) => row.action)).size).toBe(50);
  });

  it('verifies nested objects, dates, Vietnamese text and keys in any order after the jsonb round trip', async () => {
    const changedAt = new Date('2026-03-01T08:15:30.123Z');
    const fullName = 'Trần Thị Ngọc Ánh'.normalize('NFC');
    await record({
      before: { zeta: 1, full_name: 'Tran Thi Anh', a: { y: [3, 2, 1], x: null } },
      after: { a: { x: { changed_at: changedAt }, y: [1, 2, 3] }, full_name: fullName, zeta: 0.1 + 0.2 },
      details: { 'đơn vị': 'Sở Y tế Tiền Giang', reason: 'Đổi họ tên theo CCCD 🇻🇳', skipped: undefined, counts: { z: 2, ab: 1, b: 1e21 } },
    });

    const [row] = await wholeChain();
    expect(row!.after).toEqual({ a: { x: { changed_at: '2026-03-01T08:15:30.123Z' }, y: [1, 2, 3] }, full_name: fullName, zeta: 0.1 + 0.2 });
    expect((row!.after as { full_name: string }).full_name).toBe('Trần Thị Ngọc Ánh'.normalize('NFC'));
    expect(row!.details).toEqual({ 'đơn vị': 'Sở Y tế Tiền Giang', reason: 'Đổi họ tên theo CCCD 🇻🇳', counts: { z: 2, ab: 1, b: 1e21 } });
    // jsonb stores keys in its own order: the hash must not depend on it.
    expect(Object.keys(row!.before!)).not.toEqual(['zeta', 'full_name', 'a']);
    expect(await verifyAuditChain(database.db)).toEqual({ ok: true, checked: 1 });
  });
});

describe('edge cases of the chain', () => {
  it('appends a batch of events in order, one chain with the events recorded one by one', async () => {
    await record({ action: 'user.update.before' });
    await recordAuditEvents(database.db, ['a', 'b', 'c'].map((name) => ({ actor: staffMember, origin, action: `user.create.${name}` })));
    await record({ action: 'user.update.after' });
    const rows = await wholeChain();
    expect(rows.map((row) => row.action)).toEqual(['user.update.before', 'user.create.a', 'user.create.b', 'user.create.c', 'user.update.after']);
    expect(await verifyAuditChain(database.db)).toEqual({ ok: true, checked: 5 });
  });

  it('verifies an event about an org unit whose id was given in upper case', async () => {
    const unit = await insertOrgUnit(database.db, { code: 'UPPER-1', name: 'Khoa Nội', kind: 'unit', parent: null });
    await record({ action: 'org_unit.update', orgUnitId: unit.id.toUpperCase() });
    expect(await verifyAuditChain(database.db)).toEqual({ ok: true, checked: 1 });
  });

  it('stores text jsonb cannot hold (a NUL, a lone surrogate) instead of failing the change it records', async () => {
    await record({ action: 'login.failure', details: { attempted: 'adm\u0000in\uD800' } });
    const [row] = await wholeChain();
    expect(row!.details).toEqual({ attempted: 'adm\uFFFDin\uFFFD' });
    expect(await verifyAuditChain(database.db)).toEqual({ ok: true, checked: 1 });
  });

  it('names the last surviving row when the newest rows were removed', async () => {
    const rows = await recordMany(4);
    await asTableOwner((trx) => trx.deleteFrom('audit_events').where(sql<boolean>`id >= ${rows[2]!.id}::bigint`).execute());
    expect(await verifyAuditChain(database.db)).toEqual({ ok: false, checked: 2, id: rows[1]!.id, problem: 'head_mismatch' });
  });

  it('names a row added after the recorded head, even one whose hash links correctly', async () => {
    const rows = await recordMany(2);
    const [freeId] = await nextAuditEventIds(database.db, 1);
    const fields = without({ ...rows[1]!, id: freeId!, action: 'role.grant' }, 'prev_hash', 'hash');
    await asTableOwner((trx) => insertAuditEvents(trx, [{ ...fields, prev_hash: rows[1]!.hash, hash: chainHash(rows[1]!.hash, fields) }]));
    expect(await verifyAuditChain(database.db)).toEqual({ ok: false, checked: 2, id: freeId, problem: 'head_mismatch' });
  });

  it('verifies with any batch size, even a nonsensical one', async () => {
    await recordMany(3);
    expect(await verifyAuditChain(database.db, 0)).toEqual({ ok: true, checked: 3 });
  });

  // A repeatable-read transaction's snapshot may predate a row committed meanwhile: it must fail
  // rather than fork the chain. Needs a second connection, so only on PostgreSQL.
  it.runIf(inject('postgres'))('refuses, rather than forks the chain, a repeatable-read writer whose snapshot is stale', async () => {
    await expect(database.db.transaction().setIsolationLevel('repeatable read').execute(async (trx) => {
      await trx.selectFrom('org_units').select('id').execute();
      await record({ action: 'meanwhile.on.another.connection' });
      await recordAuditEvent(trx, { actor: staffMember, origin, action: 'user.update' });
    })).rejects.toMatchObject({ code: '40001' });
    expect(await verifyAuditChain(database.db)).toEqual({ ok: true, checked: 1 });
  });
});

describe('the append-only audit table', () => {
  it.each([
    ['UPDATE', sql`update audit_events set action = 'nothing.happened'`],
    ['DELETE', sql`delete from audit_events`],
    ['TRUNCATE', sql`truncate audit_events`],
  ])('refuses %s through plain SQL and keeps the rows intact', async (operation, statement) => {
    await recordMany(2);
    const error = await databaseErrorOf(statement.execute(database.db));
    expect(error.message).toBe(`audit_events is append-only: ${operation} refused`);
    expect(error.code).toBe('42501');
    expect((await wholeChain()).map((row) => row.action)).toEqual(['user.update.1', 'user.update.2']);
    expect(await verifyAuditChain(database.db)).toEqual({ ok: true, checked: 2 });
  });
});

describe('detecting tampering', () => {
  it('names a row whose action was edited in place as changed', async () => {
    const rows = await recordMany(4);
    await asTableOwner((trx) => overwrite(trx, rows[1]!.id, { action: 'user.read' }));
    expect(await verifyAuditChain(database.db)).toEqual({ ok: false, checked: 1, id: rows[1]!.id, problem: 'changed' });
  });

  it('names a row whose recorded after-state was edited in place as changed', async () => {
    const rows = await recordMany(4);
    await asTableOwner((trx) => overwrite(trx, rows[2]!.id, { after: { step: 3, role: 'super_admin' } }));
    expect(await verifyAuditChain(database.db)).toEqual({ ok: false, checked: 2, id: rows[2]!.id, problem: 'changed' });
  });

  it('names the row after one deleted from the middle as a broken link', async () => {
    const rows = await recordMany(5);
    await asTableOwner((trx) => removeRow(trx, rows[2]!.id));
    expect(await verifyAuditChain(database.db)).toEqual({ ok: false, checked: 2, id: rows[3]!.id, problem: 'broken_link' });
  });

  it('names a forged row slipped into the middle with a made-up hash', async () => {
    await record({ action: 'user.update.1' });
    const [freeId] = await nextAuditEventIds(database.db, 1);
    await record({ action: 'user.update.2' });
    const [first, second] = await wholeChain();
    await asTableOwner((trx) =>
      insertAuditEvents(trx, [{ ...second!, id: freeId!, action: 'role.grant', details: { role: 'super_admin' }, prev_hash: first!.hash, hash: 'f'.repeat(64) }]));

    expect(await verifyAuditChain(database.db)).toEqual({ ok: false, checked: 1, id: freeId, problem: 'changed' });
  });

  it('catches a forged row whose hash was computed correctly at the genuine row after it', async () => {
    await record({ action: 'user.update.1' });
    const [freeId] = await nextAuditEventIds(database.db, 1);
    await record({ action: 'user.update.2' });
    const [first, second] = await wholeChain();
    const fields = without({ ...second!, id: freeId!, action: 'role.grant' }, 'prev_hash', 'hash');
    await asTableOwner((trx) => insertAuditEvents(trx, [{ ...fields, prev_hash: first!.hash, hash: chainHash(first!.hash, fields) }]));

    expect(await verifyAuditChain(database.db)).toEqual({ ok: false, checked: 2, id: second!.id, problem: 'broken_link' });
  });

  it('names the first of two rows whose contents were swapped, hashes left in place', async () => {
    const rows = await recordMany(4);
    const [second, third] = [rows[1]!, rows[2]!];
    await asTableOwner(async (trx) => {
      await overwrite(trx, second.id, without(third, 'id', 'prev_hash', 'hash'));
      await overwrite(trx, third.id, without(second, 'id', 'prev_hash', 'hash'));
    });
    expect(await verifyAuditChain(database.db)).toEqual({ ok: false, checked: 1, id: second.id, problem: 'changed' });
  });

  it('names the first of two whole rows swapped, hashes and all, as a broken link', async () => {
    const rows = await recordMany(4);
    const [second, third] = [rows[1]!, rows[2]!];
    await asTableOwner(async (trx) => {
      await overwrite(trx, second.id, without(third, 'id'));
      await overwrite(trx, third.id, without(second, 'id'));
    });
    expect(await verifyAuditChain(database.db)).toEqual({ ok: false, checked: 1, id: second.id, problem: 'broken_link' });
  });
});

describe('verifying the chain page by page', () => {
  it.each([10, 9])('verifies %i rows read three at a time', async (count) => {
    await recordMany(count);
    expect(await verifyAuditChain(database.db, 3)).toEqual({ ok: true, checked: count });
  });

  it('detects a row changed on a later page', async () => {
    const rows = await recordMany(10);
    await asTableOwner((trx) => overwrite(trx, rows[7]!.id, { actor_name: 'Người khác' }));
    expect(await verifyAuditChain(database.db, 3)).toEqual({ ok: false, checked: 7, id: rows[7]!.id, problem: 'changed' });
  });

  it('detects a row removed from the end of one page at the start of the next', async () => {
    const rows = await recordMany(10);
    await asTableOwner((trx) => removeRow(trx, rows[2]!.id));
    expect(await verifyAuditChain(database.db, 3)).toEqual({ ok: false, checked: 2, id: rows[3]!.id, problem: 'broken_link' });
  });
});

describe('listing audit events', () => {
  let province: OrgUnit;
  let district: OrgUnit;
  let commune: OrgUnit;
  let otherProvince: OrgUnit;

  beforeAll(async () => {
    province = await insertOrgUnit(database.db, { code: 'TG', name: 'Tỉnh Tiền Giang', kind: 'province', parent: null });
    district = await insertOrgUnit(database.db, { code: 'TG-CL', name: 'Huyện Cai Lậy', kind: 'district', parent: province });
    commune = await insertOrgUnit(database.db, { code: 'TG-CL-MP', name: 'Xã Mỹ Phước Tây', kind: 'commune', parent: district });
    otherProvince = await insertOrgUnit(database.db, { code: 'BT', name: 'Tỉnh Bến Tre', kind: 'province', parent: null });
  });

  const list = async (filter: Partial<AuditEventFilter>) =>
    (await listAuditEvents(database.db, { subtrees: null, limit: 100, ...filter })).map((row) => row.action);

  it('filters by action, actor, target and outcome, newest first', async () => {
    const other = { type: 'user' as const, id: 'user-binh', name: 'Lê Văn Bình' };
    await record({ action: 'user.create', target: { type: 'user', id: 'u-1' } });
    await record({ action: 'login.failure', outcome: 'failure', actor: other, target: { type: 'user', id: 'u-1' } });
    await record({ action: 'user.create', actor: other, target: { type: 'user', id: 'u-2' } });
    await record({ action: 'role.grant', outcome: 'denied', target: { type: 'org_unit', id: 'u-1' } });

    expect(await list({ action: 'user.create' })).toEqual(['user.create', 'user.create']);
    expect(await list({ actorId: 'user-binh' })).toEqual(['user.create', 'login.failure']);
    expect(await list({ targetType: 'user', targetId: 'u-1' })).toEqual(['login.failure', 'user.create']);
    expect(await list({ targetId: 'u-1' })).toEqual(['role.grant', 'login.failure', 'user.create']);
    expect(await list({ outcome: 'denied' })).toEqual(['role.grant']);
    expect(await list({ actorId: 'user-binh', action: 'user.create' })).toEqual(['user.create']);
    expect(await list({ action: 'nothing.happened' })).toEqual([]);
  });

  it('filters by time: from is inclusive, to is exclusive', async () => {
    await record({ action: 'early' });
    const [early] = await wholeChain();
    const boundary = new Date(early!.occurred_at.getTime() + 1);
    while (Date.now() <= boundary.getTime()) await sleep(2);
    await record({ action: 'late' });

    expect(await list({ from: boundary })).toEqual(['late']);
    expect(await list({ to: boundary })).toEqual(['early']);
    expect(await list({ from: early!.occurred_at, to: boundary })).toEqual(['early']);
    expect(await list({ from: boundary, to: boundary })).toEqual([]);
  });

  it('pages newest first with the beforeId cursor, without gaps or repeats', async () => {
    const rows = await recordMany(5);
    const firstPage = await listAuditEvents(database.db, { subtrees: null, limit: 2 });
    const secondPage = await listAuditEvents(database.db, { subtrees: null, limit: 2, beforeId: firstPage.at(-1)!.id });
    const lastPage = await listAuditEvents(database.db, { subtrees: null, limit: 2, beforeId: secondPage.at(-1)!.id });

    expect([...firstPage, ...secondPage, ...lastPage].map((row) => row.id)).toEqual(rows.map((row) => row.id).reverse());
    expect(lastPage).toHaveLength(1);
    expect(await listAuditEvents(database.db, { subtrees: null, limit: 2, beforeId: rows[0]!.id })).toEqual([]);
  });

  it('shows an auditor of a subtree only the events about units inside it', async () => {
    await record({ action: 'province', orgUnitId: province.id });
    await record({ action: 'district', orgUnitId: district.id });
    await record({ action: 'commune', orgUnitId: commune.id });
    await record({ action: 'other-province', orgUnitId: otherProvince.id });
    await record({ action: 'no-unit', orgUnitId: null });

    expect(await list({ subtrees: [district.path] })).toEqual(['commune', 'district']);
    expect(await list({ subtrees: [province.path] })).toEqual(['commune', 'district', 'province']);
    expect(await list({ subtrees: [commune.path, otherProvince.path] })).toEqual(['other-province', 'commune']);
    expect(await list({ subtrees: [] })).toEqual([]);
    expect(await list({ subtrees: null })).toEqual(['no-unit', 'other-province', 'commune', 'district', 'province']);
  });
});
