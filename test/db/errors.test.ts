import pg from 'pg';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { isDatabaseUnavailable } from '../../src/db/errors.ts';
import { MigrationError } from '../../src/db/migrator.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';
import { freePort } from '../support/server.ts';

let database: TestDatabase;

beforeAll(async () => {
  database = await createTestDatabase();
});

afterAll(async () => {
  await database.close();
});

/** What pg throws when nothing listens where the database should be. */
async function refusedConnection(): Promise<unknown> {
  const client = new pg.Client({ host: '127.0.0.1', port: await freePort(), user: 'postgres', connectionTimeoutMillis: 2_000 });
  return client.connect().then(() => client.end().then(() => null), (error: unknown) => error);
}

describe('telling a database that is away from a query that is wrong', () => {
  it('calls a refused connection unavailable, also when a failed migration wraps it', async () => {
    const refused = await refusedConnection();
    expect(refused).toBeInstanceOf(Error);
    expect(isDatabaseUnavailable(refused)).toBe(true);
    expect(isDatabaseUnavailable(new MigrationError('migration 20261126-001-foundation failed', { cause: refused }))).toBe(true);
  });

  it('does not call a wrong query, a constraint or a plain bug unavailable: waiting would not cure them', async () => {
    const wrong = await sql`select * from no_such_table`.execute(database.db).then(() => null, (error: unknown) => error);
    expect(wrong).not.toBeNull();
    expect(isDatabaseUnavailable(wrong)).toBe(false);
    const duplicate = await sql`insert into audit_chain_head (singleton, hash) values (true, ${'0'.repeat(64)})`.execute(database.db).then(() => null, (error: unknown) => error);
    expect(duplicate).toMatchObject({ code: '23505' });
    expect(isDatabaseUnavailable(duplicate)).toBe(false);
    expect(isDatabaseUnavailable(new TypeError('undefined is not a function'))).toBe(false);
    expect(isDatabaseUnavailable(null)).toBe(false);
  });
});
