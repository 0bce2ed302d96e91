import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { findUserById, insertUser, updateUserFields } from '../../../src/db/queries/users.ts';
import { createTestDatabase, type TestDatabase } from '../../support/database.ts';

let database: TestDatabase;

beforeAll(async () => {
  database = await createTestDatabase();
});

afterAll(async () => {
  await database.close();
});

async function verifiedPerson(username: string, email: string) {
  const user = await insertUser(database.db, { username, email, full_name: 'Võ Thị Sáu', password_hash: null, status: 'active' });
  await database.db.updateTable('users').set({ email_verified: true }).where('id', '=', user.id).execute();
  return (await findUserById(database.db, user.id))!;
}

describe('updateUserFields', () => {
  it('treats a new email address as unverified', async () => {
    const person = await verifiedPerson('vothisau', 'sau@tiengiang.example');
    const updated = await updateUserFields(database.db, person.id, person.version, { email: 'sau.vo@tiengiang.example' });
    expect(updated).toMatchObject({ email: 'sau.vo@tiengiang.example', email_verified: false, version: person.version + 1 });
  });

  it('keeps the address verified when only its letter case changes, or when the email is not touched', async () => {
    const person = await verifiedPerson('vothisau2', 'sau2@tiengiang.example');
    const recased = await updateUserFields(database.db, person.id, person.version, { email: 'Sau2@TienGiang.example' });
    expect(recased?.email_verified).toBe(true);
    const renamed = await updateUserFields(database.db, person.id, recased!.version, { position: 'Chuyên viên' });
    expect(renamed?.email_verified).toBe(true);
  });

  it('changes nothing when the version moved on, so a stale write is never applied', async () => {
    const person = await verifiedPerson('vothisau3', 'sau3@tiengiang.example');
    await updateUserFields(database.db, person.id, person.version, { position: 'Kế toán' });
    expect(await updateUserFields(database.db, person.id, person.version, { position: 'Văn thư' })).toBeUndefined();
    expect((await findUserById(database.db, person.id))?.position).toBe('Kế toán');
  });
});

describe('the generated search and sort columns', () => {
  it('fold case and diacritics (đ to d) for search, and order given names by the Vietnamese alphabet', async () => {
    const names = ['Nguyễn Văn An', 'Trần Thị Ăn', 'Lê Văn Ân', 'Phạm Thị Bình', 'Đỗ Văn Dũng', 'Hồ Thị Đào'];
    for (const [index, fullName] of names.entries()) {
      await insertUser(database.db, { username: `sort${index}`, email: null, full_name: fullName, password_hash: null, status: 'active' });
    }
    const hoDao = await database.db.selectFrom('users').select('search_text').where('username', '=', 'sort5').executeTakeFirstOrThrow();
    expect(hoDao.search_text).toBe('ho thi dao sort5  ');
    const byGivenName = await database.db.selectFrom('users').select('full_name').where('username', 'like', 'sort%')
      .orderBy('given_name_sort').execute();
    // a < ă < â < b < d < đ, whatever the family name.
    expect(byGivenName.map((row) => row.full_name)).toEqual(names);
  });
});
