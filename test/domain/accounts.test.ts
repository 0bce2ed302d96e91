import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { insertUser } from '../../src/db/queries/users.ts';
import type { User, UserStatus } from '../../src/db/schema.ts';
import { authenticateWithPassword, createSuperAdministrator, type AccountDeps } from '../../src/domain/accounts.ts';
import { createPasswordHasher } from '../../src/domain/passwords.ts';
import { AppError } from '../../src/errors.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';

const currentParameters = { memoryCost: 9216, timeCost: 2, parallelism: 1, concurrency: 2 };
const oldParameters = { memoryCost: 8192, timeCost: 1, parallelism: 1, concurrency: 2 };
const password = 'mật khẩu đủ dài 2026';

let database: TestDatabase;
let deps: AccountDeps;

beforeAll(async () => {
  database = await createTestDatabase();
  deps = { db: database.db, passwords: createPasswordHasher(currentParameters) };
});

afterAll(async () => {
  await database.close();
});

let sequence = 0;
/** A user stored directly, as the admin API or the CSV import would leave one. */
async function storeUser(options: { status?: UserStatus; email?: string; passwordHash?: string } = {}): Promise<User> {
  sequence += 1;
  return insertUser(database.db, {
    username: `canbo${sequence}`,
    email: options.email ?? `canbo${sequence}@tiengiang.gov.vn`,
    full_name: `Cán bộ ${sequence}`,
    password_hash: options.passwordHash ?? (await deps.passwords.hash(password)),
    status: options.status ?? 'active',
  });
}

const storedUser = (id: string) => database.db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirstOrThrow();

/** The AppError that `promise` rejects with; fails the test when it resolves. */
async function appErrorOf(promise: Promise<unknown>): Promise<AppError> {
  const error: unknown = await promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (rejection: unknown) => rejection,
  );
  expect(error).toBeInstanceOf(AppError);
  return error as AppError;
}

describe('createSuperAdministrator', () => {
  it('stores the full name composed (NFC) when given a decomposed Vietnamese name', async () => {
    const decomposed = 'Nguyễn Văn A'.normalize('NFD');
    expect(decomposed).not.toBe('Nguyễn Văn A'.normalize('NFC'));
    const user = await createSuperAdministrator(deps, { username: 'nguyenvana', password, fullName: `  ${decomposed} ` });
    expect(user.full_name).toBe('Nguyễn Văn A'.normalize('NFC'));
    expect((await storedUser(user.id)).full_name).toBe('Nguyễn Văn A'.normalize('NFC'));
  });

  it('creates an active account holding the super_admin role, with the password hashed', async () => {
    const user = await createSuperAdministrator(deps, { username: 'quantri', password });
    expect(user.status).toBe('active');
    expect(user.full_name).toBe('quantri');
    expect(user.password_hash).toMatch(/^\$argon2id\$/);
    expect(user.password_hash).not.toContain(password);
    const roles = await database.db.selectFrom('role_assignments').select('role').where('user_id', '=', user.id).execute();
    expect(roles.map((row) => row.role)).toEqual(['super_admin']);
    expect(await authenticateWithPassword(deps, 'quantri', password)).toMatchObject({ outcome: 'success' });
  });

  it.each(['a', 'quản trị', '-admin', 'admin@tiengiang', 'x'.repeat(65)])('refuses the invalid username %j, saying what a username is', async (username) => {
    const error = await appErrorOf(createSuperAdministrator(deps, { username, password }));
    expect(error.code).toBe('invalid_input');
    expect(error.status).toBe(400);
    expect(error.message).toContain('a username is 2 to 64 letters, digits');
  });

  it('refuses a password shorter than 10 characters, saying so', async () => {
    const error = await appErrorOf(createSuperAdministrator(deps, { username: 'quantri2', password: 'ngan123' }));
    expect(error.code).toBe('invalid_input');
    expect(error.message).toContain('a password needs at least 10 characters');
    expect(await database.db.selectFrom('users').select('id').where('username', '=', 'quantri2').executeTakeFirst()).toBeUndefined();
  });

  it('refuses a common password and one made of the username, creating no one', async () => {
    const common = await appErrorOf(createSuperAdministrator(deps, { username: 'quantri3', password: 'qwertyuiop' }));
    expect(common.message).toContain('one of the most common passwords');
    const personal = await appErrorOf(createSuperAdministrator(deps, { username: 'quantri3', password: 'QuanTri3@2026' }));
    expect(personal.message).toContain('more than your name, username or email');
    expect(await database.db.selectFrom('users').select('id').where('username', '=', 'quantri3').executeTakeFirst()).toBeUndefined();
  });

  it('applies the configured minimum length', async () => {
    const error = await appErrorOf(createSuperAdministrator({ ...deps, passwordPolicy: { minLength: 16 } }, { username: 'quantri4', password: 'sông Tiền 2026' }));
    expect(error.message).toContain('a password needs at least 16 characters');
  });

  it('refuses a username taken in another case with a conflict, leaving the first account untouched', async () => {
    const first = await createSuperAdministrator(deps, { username: 'admin', password });
    const error = await appErrorOf(createSuperAdministrator(deps, { username: 'Admin', password: 'another long password' }));
    expect(error.code).toBe('conflict');
    expect(error.status).toBe(409);
    expect(error.message).toContain('Admin');
    expect(await authenticateWithPassword(deps, 'admin', password)).toMatchObject({ outcome: 'success', user: { id: first.id } });
    expect(await authenticateWithPassword(deps, 'admin', 'another long password')).toEqual({ outcome: 'invalid_credentials' });
  });
});

describe('authenticateWithPassword', () => {
  it('signs in by username, without regard to case', async () => {
    const user = await storeUser();
    expect(await authenticateWithPassword(deps, user.username, password)).toMatchObject({ outcome: 'success', user: { id: user.id } });
    expect(await authenticateWithPassword(deps, user.username.toUpperCase(), password)).toMatchObject({ outcome: 'success', user: { id: user.id } });
  });

  it('signs in by email address, without regard to case', async () => {
    const user = await storeUser({ email: 'Tran.Thi.Binh@SoYTe.TienGiang.gov.vn' });
    expect(await authenticateWithPassword(deps, 'tran.thi.binh@soyte.tiengiang.gov.vn', password)).toMatchObject({ outcome: 'success', user: { id: user.id } });
  });

  it('records the time of a successful login', async () => {
    const user = await storeUser();
    expect(user.last_login_at).toBeNull();
    await authenticateWithPassword(deps, user.username, password);
    const after = await storedUser(user.id);
    expect(after.last_login_at).toBeInstanceOf(Date);
    expect(Math.abs(after.last_login_at!.getTime() - Date.now())).toBeLessThan(60_000);
  });

  it('gives invalid_credentials for a wrong password, and records no login', async () => {
    const user = await storeUser();
    expect(await authenticateWithPassword(deps, user.username, 'wrong password 2026')).toEqual({ outcome: 'invalid_credentials' });
    expect((await storedUser(user.id)).last_login_at).toBeNull();
  });

  it('gives the same invalid_credentials for an unknown login as for a wrong password', async () => {
    expect(await authenticateWithPassword(deps, 'nobody-here', password)).toEqual({ outcome: 'invalid_credentials' });
    expect(await authenticateWithPassword(deps, 'nobody@tiengiang.gov.vn', password)).toEqual({ outcome: 'invalid_credentials' });
  });

  it('gives invalid_credentials for an absurdly long login without looking it up', async () => {
    expect(await authenticateWithPassword(deps, 'a'.repeat(100_000), password)).toEqual({ outcome: 'invalid_credentials' });
  });

  it('gives invalid_credentials to a user who never set a password', async () => {
    const user = await insertUser(database.db, { username: 'chuakichhoat', email: null, full_name: 'Chưa kích hoạt', password_hash: null, status: 'pending_activation' });
    expect(await authenticateWithPassword(deps, user.username, '')).toEqual({ outcome: 'invalid_credentials' });
    expect(await authenticateWithPassword(deps, user.username, password)).toEqual({ outcome: 'invalid_credentials' });
  });

  it.each(['suspended', 'disabled'] as const)('tells a %s user the status only when the password is right, and records no login', async (status) => {
    const user = await storeUser({ status });
    expect(await authenticateWithPassword(deps, user.username, password)).toEqual({ outcome: 'inactive', status });
    expect((await storedUser(user.id)).last_login_at).toBeNull();
  });

  it('gives invalid_credentials for a wrong password on a suspended account, so the status does not leak', async () => {
    const user = await storeUser({ status: 'suspended' });
    expect(await authenticateWithPassword(deps, user.username, 'wrong password 2026')).toEqual({ outcome: 'invalid_credentials' });
  });

  it('replaces a hash made with old parameters on a successful login', async () => {
    const oldHash = await createPasswordHasher(oldParameters).hash(password);
    const user = await storeUser({ passwordHash: oldHash });
    expect(await authenticateWithPassword(deps, user.username, password)).toMatchObject({ outcome: 'success' });
    const replaced = (await storedUser(user.id)).password_hash!;
    expect(replaced).not.toBe(oldHash);
    expect(replaced.split('$')[1]).toBe('argon2id');
    expect(replaced.split('$')[3]?.split(',').sort()).toEqual(['m=9216', 'p=1', 't=2']);
    expect(await deps.passwords.verify(replaced, password)).toEqual({ ok: true, rehashed: null });
  });

  it('keeps a hash made with old parameters when the password is wrong', async () => {
    const oldHash = await createPasswordHasher(oldParameters).hash(password);
    const user = await storeUser({ passwordHash: oldHash });
    await authenticateWithPassword(deps, user.username, 'wrong password 2026');
    expect((await storedUser(user.id)).password_hash).toBe(oldHash);
  });

  it('signs in with a username even when another account uses that same string as its email', async () => {
    const owner = await storeUser();
    const other = await storeUser({ email: owner.username });
    expect(other.id).not.toBe(owner.id);
    expect(await authenticateWithPassword(deps, owner.username, password)).toMatchObject({ outcome: 'success', user: { id: owner.id } });
  });
});
