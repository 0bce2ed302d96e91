import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';

import { openDatabase, type DatabaseHandle } from '../../src/db/database.ts';
import { clearThrottles, findThrottles, reservePairAttempt } from '../../src/db/queries/login-throttle.ts';
import { consumePayload, findTokensWithGrant, upsertPayload } from '../../src/db/queries/oidc-payloads.ts';
import { findConfirmedFactors, orgPolicyRequiresSecondFactor } from '../../src/db/queries/second-factors.ts';
import { findAccountUser, findUserByLogin, insertUser, recordLogin } from '../../src/db/queries/users.ts';
import { noOrigin, recordAuditEvent, recordAuditEvents, verifyAuditChain } from '../../src/domain/audit.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';

const models = ['AccessToken', 'ClientCredentials', 'RefreshToken'];

let database: TestDatabase;

beforeAll(async () => {
  database = await createTestDatabase();
});

afterAll(async () => {
  await database.close();
});

const refreshToken = (id: string) => ({
  model: 'RefreshToken', id, payload: { kind: 'RefreshToken', jti: id, clientId: 'cong-dich-vu-cong' },
  grantId: null, userCode: null, uid: null, accountId: null, expiresAt: new Date(Date.now() + 60_000),
});

// Prepared statements live in a PostgreSQL session; PGlite runs the same text unprepared (the adapter's tests cover it there).
describe.runIf(inject('postgres'))('the OIDC adapter\'s statements on PostgreSQL', () => {
  let session: DatabaseHandle;

  beforeAll(async () => {
    // One connection, so that every statement below runs in the session whose prepared statements are read.
    session = await openDatabase(database.target, { poolSize: 1 });
  });

  afterAll(async () => {
    await session.close();
  });

  const preparedInSession = async () =>
    (await sql<{ statement: string }>`select statement from pg_prepared_statements where name like 'mekong\\_%'`.execute(session.db)).rows.map((row) => row.statement);

  it('are prepared once per connection and found again by name, with the same answers', async () => {
    await upsertPayload(session.db, refreshToken('rt-prepared-1'));
    const first = await findTokensWithGrant(session.db, models, 'rt-prepared-1');
    const again = await findTokensWithGrant(session.db, models, 'rt-prepared-1');
    expect(first.get('RefreshToken')?.payload).toMatchObject({ jti: 'rt-prepared-1' });
    expect(again).toEqual(first);
    expect(await consumePayload(session.db, 'RefreshToken', 'rt-prepared-1')).toEqual({ consumed: true });
    expect((await findTokensWithGrant(session.db, models, 'rt-prepared-1')).get('RefreshToken')?.consumedAt).toBeInstanceOf(Date);

    const prepared = await preparedInSession();
    expect(prepared.filter((text) => text.includes('from oidc_payloads as token'))).toHaveLength(1);
    expect(prepared.some((text) => text.startsWith('\n    insert into oidc_payloads'))).toBe(true);
    expect(prepared.some((text) => text.startsWith('update oidc_payloads set consumed_at'))).toBe(true);
  });

  it("include a sign-in's own: its throttle, the person, the unit policy, the last login and the audit event", async () => {
    const person = await insertUser(session.db, { username: 'tranthithu', full_name: 'Trần Thị Thu', email: 'thu.tt@soyte.example.vn' });
    expect(await findUserByLogin(session.db, 'THU.TT@soyte.example.vn')).toEqual(person);
    expect(await findConfirmedFactors(session.db, person.id)).toEqual([]);
    const now = new Date();
    const policy = { delayAfterFailures: 3, maxDelaySeconds: 60, windowSeconds: 900 };
    expect(await reservePairAttempt(session.db, 'pair:tranthithu|127.0.0.1', now, policy)).toBe(true);
    expect(await findThrottles(session.db, ['login:tranthithu', 'pair:tranthithu|127.0.0.1', 'ip:127.0.0.1'])).toEqual([
      expect.objectContaining({ key: 'pair:tranthithu|127.0.0.1', failures: 1 }),
    ]);
    expect(await findAccountUser(session.db, person.id)).toMatchObject({ username: 'tranthithu', full_name: 'Trần Thị Thu' });
    expect(await orgPolicyRequiresSecondFactor(session.db, person.id)).toBe(false);
    await recordLogin(session.db, person.id);
    expect(await clearThrottles(session.db, ['login:tranthithu', 'pair:tranthithu|127.0.0.1'], [])).toBe(1);
    const actor = { type: 'user' as const, id: person.id, name: 'tranthithu' };
    await recordAuditEvent(session.db, { actor, origin: noOrigin, action: 'login.success', target: { type: 'user', id: person.id } });

    const prepared = await preparedInSession();
    for (const statement of ['lower(username) = lower($1)', 'from "user_factors"', 'insert into login_throttle', '"locked_until" from "login_throttle"',
      'from "users" where "id"', 'as required', 'set "last_login_at"', 'delete from "login_throttle"', 'from "audit_chain_head" for update', 'generate_series',
      'insert into "audit_events"', 'update "audit_chain_head"']) {
      expect(prepared.filter((text) => text.includes(statement)), statement).toHaveLength(1);
    }
    // Forgetting every pair under a name is a prefix match: not prepared (a generic plan cannot use the index for it).
    await clearThrottles(session.db, [], ['pair:tranthithu|']);
    expect((await preparedInSession()).filter((text) => text.includes('delete from "login_throttle"'))).toHaveLength(1);
    // A batch of events is one statement of its own length: not prepared, or a connection would keep one per batch size.
    await recordAuditEvents(session.db, [1, 2].map(() => ({ actor, origin: noOrigin, action: 'login.failure', outcome: 'failure' as const })));
    expect((await preparedInSession()).filter((text) => text.includes('insert into "audit_events"'))).toHaveLength(1);
    expect(await verifyAuditChain(session.db)).toMatchObject({ ok: true, checked: 3 });

    // They name their columns, so a column a later release adds does not break them on this connection.
    await sql`alter table users add column added_by_a_later_release text`.execute(database.db);
    await sql`alter table user_factors add column added_by_a_later_release text`.execute(database.db);
    expect(await findUserByLogin(session.db, 'tranthithu')).toMatchObject({ id: person.id });
    expect(await findConfirmedFactors(session.db, person.id)).toEqual([]);
  });

  it('leaves every other statement unprepared, so a connection never collects one per query shape', async () => {
    await sql`select count(*) from oidc_payloads where model = ${'Session'}`.execute(session.db);
    await session.db.selectFrom('oidc_payloads').select('id').where('model', '=', 'Grant').execute();
    expect((await preparedInSession()).filter((text) => !text.endsWith(' /* prepared */'))).toEqual([]);
    expect(await preparedInSession()).not.toContainEqual(expect.stringContaining('count(*)'));
  });

  it('keep working on a connection that prepared them before a migration added a column to the table', async () => {
    await upsertPayload(session.db, refreshToken('rt-prepared-2'));
    expect((await findTokensWithGrant(session.db, models, 'rt-prepared-2')).has('RefreshToken')).toBe(true);
    // What a rolling upgrade does to a running node: a newer node's migration changes the table under it.
    await sql`alter table oidc_payloads add column added_by_a_later_release text`.execute(database.db);
    expect((await findTokensWithGrant(session.db, models, 'rt-prepared-2')).get('RefreshToken')?.payload).toMatchObject({ jti: 'rt-prepared-2' });
    await upsertPayload(session.db, refreshToken('rt-prepared-3'));
    expect((await findTokensWithGrant(session.db, models, 'rt-prepared-3')).has('RefreshToken')).toBe(true);
  });
});
