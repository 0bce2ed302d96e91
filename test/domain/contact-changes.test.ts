import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { findUserById, insertUser, updateUserFields } from '../../src/db/queries/users.ts';
import type { User } from '../../src/db/schema.ts';
import {
  confirmEmailChange, confirmPhoneChange, phoneCodeTtlSeconds, removeOwnPhone, requestEmailChange, requestPhoneChange, type ContactChangeDeps,
} from '../../src/domain/contact-changes.ts';
import { mailSecretSealLabel } from '../../src/domain/account-tokens.ts';
import { unseal } from '../../src/domain/sealed-box.ts';
import { createLogger } from '../../src/logger.ts';
import { createTextMessageSender } from '../../src/sms/sender.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';
import { codeIn } from '../support/sms-gateway.ts';

const masterKey = randomBytes(32);
const origin = { ip: '10.0.0.1', userAgent: 'vitest', requestId: null };
const dataDir = mkdtempSync(path.join(tmpdir(), 'mekong-contact-'));

let database: TestDatabase;
let deps: ContactChangeDeps;

beforeAll(async () => {
  database = await createTestDatabase();
  const sms = createTextMessageSender({ sms: { gatewayUrl: null, gatewayToken: null }, dataDir }, createLogger('silent'));
  deps = { db: database.db, masterKey, sms, selfServicePhone: true };
});

afterAll(async () => {
  await database.close();
});

let sequence = 0;
async function storeUser(): Promise<User> {
  sequence += 1;
  return insertUser(database.db, {
    username: `lienhe${sequence}`, email: `lienhe${sequence}@tiengiang.gov.vn`, full_name: `Nguyễn Liên Hệ ${sequence}`, password_hash: null, status: 'active',
  });
}

/** The code in the newest text message to `phone` in the development outbox. */
function lastCodeTo(phone: string): string {
  const directory = path.join(dataDir, 'sms');
  const texts = readdirSync(directory).sort().map((file) => readFileSync(path.join(directory, file), 'utf8')).filter((text) => text.startsWith(`To: ${phone}\n`));
  return codeIn(texts.at(-1));
}

/** The raw token of the newest email-change link mailed to `address`. */
async function lastLinkTokenTo(address: string): Promise<string> {
  const mail = await database.db.selectFrom('mail_outbox').select(['id', 'secret_sealed'])
    .where('recipient', '=', address).where('template', '=', 'email_change').orderBy('created_at', 'desc').executeTakeFirstOrThrow();
  return unseal(masterKey, mailSecretSealLabel(mail.id), mail.secret_sealed!);
}

describe('phone changes', () => {
  it('stores only a hash of the code', async () => {
    const user = await storeUser();
    await requestPhoneChange(deps, user, '0912 000 001', origin);
    const [row] = await database.db.selectFrom('contact_changes').selectAll().where('user_id', '=', user.id).execute();
    expect(row).toMatchObject({ kind: 'phone', new_value: '+84912000001' });
    expect(row!.secret_hash).toMatch(/^[0-9a-f]{64}$/);
    expect(row!.secret_hash).not.toContain(lastCodeTo('+84912000001'));
  });

  it('refuses a code after ten minutes', async () => {
    const user = await storeUser();
    await requestPhoneChange(deps, user, '0912 000 002', origin);
    // The database's clock decides expiry: the row is moved back in time as if ten minutes had passed.
    await database.db.updateTable('contact_changes')
      .set({ expires_at: sql<Date>`expires_at - make_interval(secs => ${phoneCodeTtlSeconds})` }).where('user_id', '=', user.id).execute();
    expect(await confirmPhoneChange(database.db, user, lastCodeTo('+84912000002'), origin)).toEqual({ outcome: 'expired' });
  });

  it('makes an older code worthless once a newer one is sent', async () => {
    const user = await storeUser();
    await requestPhoneChange(deps, user, '0912 000 003', origin);
    const first = lastCodeTo('+84912000003');
    // Past the one-code-a-minute limit.
    await sql`update contact_changes set created_at = created_at - interval '2 minutes' where user_id = ${user.id}`.execute(database.db);
    await requestPhoneChange(deps, user, '0912 000 004', origin);
    const second = lastCodeTo('+84912000004');
    if (first !== second) expect((await confirmPhoneChange(database.db, user, first, origin)).outcome).toBe('wrong_code');
    expect((await confirmPhoneChange(database.db, user, second, origin)).outcome).toBe('changed');
    expect((await findUserById(database.db, user.id))?.phone).toBe('+84912000004');
  });

  it('is closed to self-service where no code can reach the person', async () => {
    const user = await storeUser();
    const closed = { ...deps, selfServicePhone: false };
    await expect(requestPhoneChange(closed, user, '0912 000 005', origin)).rejects.toMatchObject({ code: 'phone_change_unavailable' });
    await expect(removeOwnPhone(closed, user, origin)).rejects.toMatchObject({ code: 'phone_change_unavailable' });
  });

  it('is no longer proven once an admin edits the number', async () => {
    const user = await storeUser();
    await requestPhoneChange(deps, user, '0912 000 006', origin);
    await confirmPhoneChange(database.db, user, lastCodeTo('+84912000006'), origin);
    const current = (await findUserById(database.db, user.id))!;
    const same = await updateUserFields(database.db, user.id, current.version, { phone: '+84912000006' });
    expect(same?.phone_verified).toBe(true);
    const edited = await updateUserFields(database.db, user.id, same!.version, { phone: '+84912000007' });
    expect(edited?.phone_verified).toBe(false);
  });
});

describe('email changes', () => {
  it('refuses a malformed address with what was wrong', async () => {
    const user = await storeUser();
    await expect(requestEmailChange(deps, user, 'không phải email', origin)).rejects.toMatchObject({ code: 'invalid_input' });
    await expect(requestEmailChange(deps, user, 'không phải email', origin)).rejects.toThrow(/not a valid email address/);
  });

  it('does not work for a person disabled after the link was sent', async () => {
    const user = await storeUser();
    await requestEmailChange(deps, user, `moi.${user.username}@tiengiang.gov.vn`, origin);
    const token = await lastLinkTokenTo(`moi.${user.username}@tiengiang.gov.vn`);
    await database.db.updateTable('users').set({ status: 'disabled' }).where('id', '=', user.id).execute();
    expect(await confirmEmailChange(database.db, token, origin)).toEqual({ outcome: 'invalid' });
    expect((await findUserById(database.db, user.id))?.email).toBe(user.email);
  });

  it('refuses a forged or truncated token without a query', async () => {
    expect(await confirmEmailChange(database.db, 'x'.repeat(42), origin)).toEqual({ outcome: 'invalid' });
    expect(await confirmEmailChange(database.db, `${'A'.repeat(42)}'`, origin)).toEqual({ outcome: 'invalid' });
  });
});

describe('two people confirming the same new address at once', () => {
  it('gives it to one of them; the other is told it is taken, and nothing fails', async () => {
    const [first, second] = [await storeUser(), await storeUser()];
    const address = `chung.${first.username}@tiengiang.gov.vn`;
    await requestEmailChange(deps, first, address, origin);
    const firstToken = await lastLinkTokenTo(address);
    await requestEmailChange(deps, second, address, origin);
    const secondToken = await lastLinkTokenTo(address);
    const outcomes = await Promise.all([confirmEmailChange(database.db, firstToken, origin), confirmEmailChange(database.db, secondToken, origin)]);
    expect(outcomes.map((result) => result.outcome).sort()).toEqual(['changed', 'taken']);
    const holders = await database.db.selectFrom('users').select('id').where('email', '=', address).execute();
    expect(holders).toHaveLength(1);
  });
});
