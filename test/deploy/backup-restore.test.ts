import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';

import { redeemCode, signInThroughPages } from '../support/admin-api.ts';
import { createTestDatabase, withAdminClient, type TestDatabase } from '../support/database.ts';
import { withDatabase } from '../support/global-setup.ts';
import { discoverRelyingParty } from '../support/relying-party.ts';
import { runCli, serveEnvironment, spawnServe, type ServeProcess } from '../support/serve-process.ts';
import { freePort } from '../support/server.ts';

const postgres = inject('postgres');
const redirectUri = 'http://localhost:8081/callback';
const login = { login: 'nguyenvanthanh', password: 'Bến Tre xứ dừa bên kia cầu Rạch Miễu' };

/** A server process with an issuer of its own on `databaseUrl`; the rest of `environment` is shared. */
async function serveOn(databaseUrl: string, environment: Record<string, string>): Promise<ServeProcess> {
  const port = await freePort();
  return spawnServe({ ...environment, DATABASE_URL: databaseUrl, PORT: String(port), ISSUER: `http://127.0.0.1:${port}` });
}

function run(command: string, args: string[]) {
  const result = spawnSync(command, args, { encoding: 'utf8' });
  expect(result.status, `${command}: ${result.stderr}`).toBe(0);
}

// pg_dump and pg_restore work on a PostgreSQL server; an embedded deployment backs up DATA_DIR instead.
describe.skipIf(!postgres)('a backup taken with pg_dump from a running server', { timeout: 90_000 }, () => {
  let original: TestDatabase;
  let restoredName: string;
  let restoredUrl: string;
  let environment: Record<string, string>;
  let client: { client_id: string; client_secret: string };
  let workDir: string;

  beforeAll(async () => {
    original = await createTestDatabase();
    workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mekong-id-backup-'));
    // Named like the other test databases, so that the run's teardown finds it if this file crashes.
    restoredName = `mekong_test_${postgres!.template.split('_').pop() ?? ''}_restored_${randomBytes(4).toString('hex')}`;
    restoredUrl = withDatabase(postgres!.url, restoredName);
    environment = serveEnvironment();
  });

  afterAll(async () => {
    await original?.close();
    if (restoredName) await withAdminClient(postgres!.url, (admin) => admin.query(`drop database if exists ${restoredName} with (force)`));
    if (workDir) fs.rmSync(workDir, { recursive: true, force: true });
  });

  it('restores into a new database where people sign in with their passwords and the audit chain verifies', async () => {
    const originalUrl = (original.target as { url: string }).url;
    const serve = await serveOn(originalUrl, environment);
    let dump: string;
    try {
      await serve.ready();
      const admin = await runCli(['admin', 'create', '--username', login.login, '--password-stdin'], { ...environment, DATABASE_URL: originalUrl }, login.password);
      expect(admin.code, admin.stderr).toBe(0);
      const created = await runCli(['clients', 'create', '--name', 'Quản lý hồ sơ sức khỏe', '--redirect-uri', redirectUri, '--first-party', '--json'], { ...environment, DATABASE_URL: originalUrl });
      expect(created.code, created.stderr).toBe(0);
      client = JSON.parse(created.stdout) as typeof client;
      const app = await discoverRelyingParty(serve.url, client.client_id, client.client_secret);
      await redeemCode(app, await signInThroughPages(app, redirectUri, login));

      // Taken while the server runs, as a nightly job would.
      dump = path.join(workDir, 'mekong-id.dump');
      run('pg_dump', ['--format=custom', `--file=${dump}`, originalUrl]);
    } finally {
      await serve.stop();
    }

    await withAdminClient(postgres!.url, (admin) => admin.query(`create database ${restoredName}`));
    run('pg_restore', ['--no-owner', '--exit-on-error', `--dbname=${restoredUrl}`, dump]);

    const restored = await serveOn(restoredUrl, environment);
    try {
      await restored.ready();
      const app = await discoverRelyingParty(restored.url, client.client_id, client.client_secret);
      const tokens = await redeemCode(app, await signInThroughPages(app, redirectUri, login));
      expect((await oidc.fetchUserInfo(app, tokens.access_token, tokens.claims()!.sub)).sub).toBe(tokens.claims()!.sub);
    } finally {
      await restored.stop();
    }
    const verified = await runCli(['audit', 'verify'], { ...environment, DATABASE_URL: restoredUrl });
    expect(verified.code, verified.stderr).toBe(0);
    expect(verified.stdout).toMatch(/^the audit log is intact: \d+ events checked/);
  });

  it('is of no use without the MASTER_KEY it was made with, and says so', async () => {
    const stranger = await serveOn(restoredUrl, { ...environment, MASTER_KEY: randomBytes(32).toString('base64') });
    expect((await stranger.exited).code).toBe(78);
    expect(stranger.stderr()).toContain('MASTER_KEY is not the key they were sealed with');
  });
});
