import { randomBytes } from 'node:crypto';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { insertUser } from '../../src/db/queries/users.ts';
import type { User } from '../../src/db/schema.ts';
import {
  hashAccountToken,
  issueActivationToken,
  issueActivationTokens,
  mailSecretSealLabel,
  redeemAccountToken,
} from '../../src/domain/account-tokens.ts';
import { unseal, UnsealError } from '../../src/domain/sealed-box.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';

const masterKey = randomBytes(32);
const day = 24 * 60 * 60 * 1000;

let database: TestDatabase;

beforeAll(async () => {
  database = await createTestDatabase();
});

afterAll(async () => {
  await database.close();
});

let sequence = 0;
async function storeUser(options: { email?: string | null } = {}): Promise<User> {
  sequence += 1;
  return insertUser(database.db, {
    username: `kichhoat${sequence}`,
    email: options.email === undefined ? `kichhoat${sequence}@tiengiang.gov.vn` : options.email,
    full_name: `Người dùng ${sequence}`,
    password_hash: null,
    status: 'pending_activation',
  });
}

const tokensOf = (userId: string) =>
  database.db.selectFrom('account_tokens').selectAll().where('user_id', '=', userId).orderBy('created_at').execute();
const mailsTo = (recipient: string) =>
  database.db.selectFrom('mail_outbox').selectAll().where('recipient', '=', recipient).orderBy('created_at').execute();

describe('issueActivationToken', () => {
  it('returns a 256-bit base64url token and stores only its SHA-256', async () => {
    const user = await storeUser();
    const token = await issueActivationToken(database.db, user, { masterKey });
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const [stored] = await tokensOf(user.id);
    expect(stored).toMatchObject({ purpose: 'activation', token_hash: hashAccountToken(token), used_at: null });
    expect(stored!.token_hash).toMatch(/^[0-9a-f]{64}$/);
    expect(JSON.stringify(await tokensOf(user.id))).not.toContain(token);
  });

  it('queues an activation mail whose sealed secret is the token, and nowhere in clear', async () => {
    const user = await storeUser({ email: 'tran.thi.mai@soyte.tiengiang.gov.vn' });
    const token = await issueActivationToken(database.db, user, { masterKey });
    const [mail] = await mailsTo('tran.thi.mai@soyte.tiengiang.gov.vn');
    expect(mail).toMatchObject({
      template: 'activation',
      params: { user_id: user.id, username: user.username, full_name: user.full_name },
      sent_at: null,
    });
    expect(JSON.stringify(mail)).not.toContain(token);
    expect(unseal(masterKey, mailSecretSealLabel(mail!.id), mail!.secret_sealed!)).toBe(token);
  });

  it('binds the sealed secret to its mail: it does not open as another mail\'s secret', async () => {
    const user = await storeUser();
    await issueActivationToken(database.db, user, { masterKey });
    const [mail] = await mailsTo(user.email!);
    expect(() => unseal(masterKey, mailSecretSealLabel(randomBytes(16).toString('hex')), mail!.secret_sealed!)).toThrow(UnsealError);
    expect(() => unseal(randomBytes(32), mailSecretSealLabel(mail!.id), mail!.secret_sealed!)).toThrow(UnsealError);
  });

  it('queues no mail for a person without an email address, and still returns the token for the helpdesk', async () => {
    const user = await storeUser({ email: null });
    const before = await database.db.selectFrom('mail_outbox').select((eb) => eb.fn.countAll<string>().as('count')).executeTakeFirstOrThrow();
    const token = await issueActivationToken(database.db, user, { masterKey });
    const after = await database.db.selectFrom('mail_outbox').select((eb) => eb.fn.countAll<string>().as('count')).executeTakeFirstOrThrow();
    expect(Number(after.count)).toBe(Number(before.count));
    expect(await redeemAccountToken(database.db, 'activation', token)).toBe(user.id);
  });

  it('expires after seven days by default, or after the configured time', async () => {
    const user = await storeUser();
    const now = new Date('2026-11-20T08:00:00Z');
    await issueActivationToken(database.db, user, { masterKey, now });
    expect((await tokensOf(user.id))[0]!.expires_at.toISOString()).toBe('2026-11-27T08:00:00.000Z');
    await issueActivationToken(database.db, user, { masterKey, now, ttlSeconds: 3600 });
    expect((await tokensOf(user.id))[0]!.expires_at.toISOString()).toBe('2026-11-20T09:00:00.000Z');
  });

  it('makes the older unused token stop working when a new one is issued', async () => {
    const user = await storeUser();
    const older = await issueActivationToken(database.db, user, { masterKey });
    const newer = await issueActivationToken(database.db, user, { masterKey });
    expect(await redeemAccountToken(database.db, 'activation', older)).toBeUndefined();
    expect(await redeemAccountToken(database.db, 'activation', newer)).toBe(user.id);
  });
});

describe('issueActivationTokens', () => {
  it('gives every person one working token, and mails those with an address', async () => {
    const users = [await storeUser(), await storeUser({ email: null }), await storeUser()];
    await issueActivationTokens(database.db, users, { masterKey });
    for (const user of users) expect(await tokensOf(user.id)).toHaveLength(1);
    const mails = await database.db.selectFrom('mail_outbox').select('recipient')
      .where('recipient', 'in', users.flatMap((user) => (user.email ? [user.email] : []))).execute();
    expect(mails.map((mail) => mail.recipient).sort()).toEqual([users[0]!.email, users[2]!.email].sort());
  });

  it('does nothing for no one', async () => {
    await expect(issueActivationTokens(database.db, [], { masterKey })).resolves.toBeUndefined();
  });
});

describe('redeemAccountToken', () => {
  it('answers the user once: a second redemption of the same token gets nothing', async () => {
    const user = await storeUser();
    const token = await issueActivationToken(database.db, user, { masterKey });
    expect(await redeemAccountToken(database.db, 'activation', token)).toBe(user.id);
    expect(await redeemAccountToken(database.db, 'activation', token)).toBeUndefined();
    expect((await tokensOf(user.id))[0]!.used_at).toBeInstanceOf(Date);
  });

  it('lets exactly one of two racing redemptions win', async () => {
    const user = await storeUser();
    const token = await issueActivationToken(database.db, user, { masterKey });
    const results = await Promise.all([
      redeemAccountToken(database.db, 'activation', token),
      redeemAccountToken(database.db, 'activation', token),
    ]);
    expect(results.filter((result) => result === user.id)).toHaveLength(1);
    expect(results.filter((result) => result === undefined)).toHaveLength(1);
  });

  it('refuses an expired token', async () => {
    const user = await storeUser();
    const token = await issueActivationToken(database.db, user, { masterKey, now: new Date(Date.now() - 8 * day) });
    expect(await redeemAccountToken(database.db, 'activation', token)).toBeUndefined();
    expect((await tokensOf(user.id))[0]!.used_at).toBeNull();
  });

  it('refuses an activation token presented as a password reset token', async () => {
    const user = await storeUser();
    const token = await issueActivationToken(database.db, user, { masterKey });
    expect(await redeemAccountToken(database.db, 'password_reset', token)).toBeUndefined();
    expect(await redeemAccountToken(database.db, 'activation', token)).toBe(user.id);
  });

  it('refuses a guessed token, the stored hash presented as a token, and malformed input', async () => {
    const user = await storeUser();
    await issueActivationToken(database.db, user, { masterKey });
    const [stored] = await tokensOf(user.id);
    for (const attempt of [randomBytes(32).toString('base64url'), stored!.token_hash, '', "' or 1=1 --", 'a'.repeat(100_000)]) {
      expect(await redeemAccountToken(database.db, 'activation', attempt)).toBeUndefined();
    }
    expect((await tokensOf(user.id))[0]!.used_at).toBeNull();
  });
});
