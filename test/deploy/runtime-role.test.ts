import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';

import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';

import { redeemCode, signInThroughPages } from '../support/admin-api.ts';
import { createTestDatabase, withAdminClient, type TestDatabase } from '../support/database.ts';
import { discoverRelyingParty } from '../support/relying-party.ts';
import { runCli, serveEnvironment, spawnServe, type ServeProcess } from '../support/serve-process.ts';
import { freePort } from '../support/server.ts';

const postgres = inject('postgres');
const rolesScript = fileURLToPath(new URL('../../deploy/postgresql-roles.sql', import.meta.url));
const redirectUri = 'http://localhost:8081/callback';
const login = { login: 'phamvanhai', password: 'Cồn Phụng giữa dòng sông Tiền' };

/** The same database, reached as another role (trust authentication on the test server: no password). */
const asRole = (url: string, role: string) => {
  const parsed = new URL(url);
  parsed.username = role;
  parsed.password = '';
  return parsed.toString();
};

// Roles and privileges belong to a PostgreSQL server; the embedded database has one user and one process.
describe.skipIf(!postgres)('Mekong ID running as a role that does not own the schema', { timeout: 60_000 }, () => {
  let database: TestDatabase;
  let role: string;
  let runtimeUrl: string;
  let serve: ServeProcess;
  let environment: Record<string, string>;

  beforeAll(async () => {
    database = await createTestDatabase();
    const ownerUrl = (database.target as { url: string }).url;
    role = `mekong_app_${randomBytes(4).toString('hex')}`;
    await withAdminClient(postgres!.url, (client) => client.query(`create role ${role} login`));
    // What the operator runs after migrating, as the owner.
    const granted = spawnSync('psql', [ownerUrl, '-v', 'ON_ERROR_STOP=1', '-v', `app_role=${role}`, '-f', rolesScript], { encoding: 'utf8' });
    expect(granted.status, granted.stderr).toBe(0);
    runtimeUrl = asRole(ownerUrl, role);
    const port = await freePort();
    environment = serveEnvironment({ DATABASE_URL: runtimeUrl, PORT: String(port), ISSUER: `http://127.0.0.1:${port}` });
    serve = await spawnServe(environment);
    await serve.ready();
  });

  afterAll(async () => {
    await serve?.stop();
    await database?.close();
    if (role) await withAdminClient(postgres!.url, (client) => client.query(`drop role if exists ${role}`));
  });

  it('serves sign-ins, writing the audit log, with data privileges only', async () => {
    const admin = await runCli(['admin', 'create', '--username', login.login, '--password-stdin'], environment, login.password);
    expect(admin.code, admin.stderr).toBe(0);
    const created = await runCli(['clients', 'create', '--name', 'Một cửa điện tử', '--redirect-uri', redirectUri, '--first-party', '--json'], environment);
    expect(created.code, created.stderr).toBe(0);
    const client = JSON.parse(created.stdout) as { client_id: string; client_secret: string };
    const app = await discoverRelyingParty(serve.url, client.client_id, client.client_secret);
    const tokens = await redeemCode(app, await signInThroughPages(app, redirectUri, login));
    expect(tokens.access_token).toBeTruthy();

    const logins = await database.db.selectFrom('audit_events').select('action').where('action', 'like', 'login%').execute();
    expect(logins.length).toBeGreaterThan(0);
    const verified = await runCli(['audit', 'verify'], environment);
    expect(verified.code, verified.stdout + verified.stderr).toBe(0);
  });

  it('cannot change or remove audit events, nor lift the triggers that guard them, nor change the schema', async () => {
    const runtime = new pg.Client({ connectionString: runtimeUrl });
    await runtime.connect();
    try {
      for (const statement of [
        `update audit_events set action = 'nothing.happened'`,
        'delete from audit_events',
        'truncate audit_events',
        'alter table audit_events disable trigger audit_events_append_only',
        'drop trigger audit_events_append_only on audit_events',
        'create table intruder (id int)',
      ]) {
        await expect(runtime.query(statement), statement).rejects.toMatchObject({ code: '42501' });
      }
      // Appending and reading stay allowed: that is how the server records events.
      const { rows } = await runtime.query<{ count: string }>('select count(*) from audit_events');
      expect(Number(rows[0]!.count)).toBeGreaterThan(0);
    } finally {
      await runtime.end();
    }
  });
});
