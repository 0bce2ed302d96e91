import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { internationalMobile, knownUserCount, knownUserPassword, seedPopulation, type Population } from '../../bench/seed.ts';
import { createPasswordHasher } from '../../src/domain/passwords.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';

let database: TestDatabase;
let population: Population;
const hasher = createPasswordHasher({ memoryCost: 1024, timeCost: 1, parallelism: 1, concurrency: 2 });

beforeAll(async () => {
  database = await createTestDatabase();
  population = await seedPopulation({ db: database.db, hashPassword: (password) => hasher.hash(password) });
});
afterAll(async () => {
  await database.close();
});

describe('the bench\'s data generator', () => {
  it('grows the database in steps, the first people with real passwords and every one in a unit of the demo tree', async () => {
    await population.growTo(500);
    await population.growTo(1_200);
    const users = await database.db.selectFrom('users').select(['username', 'password_hash', 'primary_org_unit_id', 'phone']).execute();
    expect(users).toHaveLength(1_200);
    expect(new Set(users.map((user) => user.username)).size).toBe(1_200);
    expect(users.every((user) => user.primary_org_unit_id !== null && /^\+849\d{8}$|^\+84[35-8]\d{8}$/.test(user.phone ?? ''))).toBe(true);
    expect(users.filter((user) => user.password_hash !== null)).toHaveLength(knownUserCount);
    expect(population.knownUsers).toHaveLength(knownUserCount);
    const known = users.find((user) => user.username === population.knownUsers[0]!.login)!;
    expect(await hasher.verify(known.password_hash, knownUserPassword)).toMatchObject({ ok: true });
  });

  it('hands out new hires for an HR file who are not in the database, and never the same person twice', async () => {
    const hires = population.takeNewHires(50);
    const more = population.takeNewHires(50);
    const names = [...hires, ...more].map((person) => person.username);
    expect(new Set(names).size).toBe(100);
    const inDatabase = await database.db.selectFrom('users').select('username').where('username', 'in', names).execute();
    expect(inDatabase).toEqual([]);
    expect(population.handedOut).toBe(1_300);
  });

  it('writes mobile numbers as the import stores them', () => {
    expect(internationalMobile('0912 345 678')).toBe('+84912345678');
  });
});
