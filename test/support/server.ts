import { randomBytes, randomInt } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

import type { KyselyPlugin } from 'kysely';

import { loadConfig, type Config } from '../../src/config/index.ts';
import { insertUser } from '../../src/db/queries/users.ts';
import { registerClient, type ClientRegistration, type RegisteredClient } from '../../src/domain/clients.ts';
import type { User, UserStatus } from '../../src/db/schema.ts';
import { createLogger } from '../../src/logger.ts';
import { startServer, type RunningServer } from '../../src/main.ts';
import { createTestDatabase, type TestDatabase } from './database.ts';

export interface TestServer extends RunningServer {
  readonly config: Config;
  readonly issuer: string;
  readonly database: TestDatabase;
}

/**
 * A free TCP port on loopback; the issuer URL must name the port before the server starts, so the
 * port is chosen, found free, and only then bound by the server. It is picked at random below
 * Linux's ephemeral range (ip_local_port_range, 32768-60999 by default), where the kernel never
 * places the sockets other test files open on port 0 nor their outgoing connections: between the
 * check and the bind only another such pick could take it, not any socket of the run. (A port the
 * kernel handed out on port 0 was once taken by another test file's connection in that interval.)
 */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 100; attempt += 1) {
    const port = 20_000 + randomInt(12_000);
    if (await canListen(port)) return port;
  }
  throw new Error('no free port between 20000 and 32000 on 127.0.0.1');
}

function canListen(port: number): Promise<boolean> {
  const server = net.createServer();
  return new Promise((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

export function testConfig(overrides: Record<string, string> = {}): Config {
  return loadConfig({
    NODE_ENV: 'test',
    // TEST_LOG_LEVEL=debug shows the server's logs while debugging a test.
    LOG_LEVEL: process.env['TEST_LOG_LEVEL'] ?? 'silent',
    MASTER_KEY: randomBytes(32).toString('base64'),
    COOKIE_KEYS: randomBytes(32).toString('base64url'),
    // The development outboxes (mail, text messages) of each server apart, and out of the checkout.
    DATA_DIR: mkdtempSync(path.join(tmpdir(), 'mekong-test-')),
    ...overrides,
  });
}

/**
 * The real Mekong ID server on a loopback port, on its own fresh database. `issuerHost` names it
 * `localhost` for passkey tests: WebAuthn refuses an IP address as the relying party.
 * `observeQueries` sees every statement the server sends (tests that count round trips).
 */
export async function startTestServer(
  overrides: Record<string, string> = {}, options: { issuerHost?: 'localhost'; observeQueries?: KyselyPlugin } = {},
): Promise<TestServer> {
  const database = await createTestDatabase();
  const observed = options.observeQueries ? { ...database, db: database.db.withPlugin(options.observeQueries) } : database;
  // freePort's port is free when it answers, not necessarily when the server binds it: another test
  // file's server that picked the same port can bind it first. Then another port, up to a few times.
  for (let attempt = 1; ; attempt += 1) {
    const port = await freePort();
    const issuer = `http://${options.issuerHost ?? '127.0.0.1'}:${port}`;
    const config = testConfig({ PORT: String(port), ISSUER: issuer, ...overrides });
    try {
      const server = await startServer(config, createLogger(config.logLevel), { database: observed, host: '127.0.0.1' });
      return { ...server, config, issuer, database };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE' && attempt < 5) continue;
      await database.close();
      throw error;
    }
  }
}

export interface TestUser {
  username: string;
  password: string;
  fullName?: string;
  email?: string;
  status?: UserStatus;
}

/** An ordinary person with a real argon2id password hash, made through the same queries the product uses. */
export async function createUser(server: TestServer, user: TestUser): Promise<User> {
  return insertUser(server.database.db, {
    username: user.username,
    full_name: (user.fullName ?? user.username).normalize('NFC'),
    email: user.email ?? null,
    phone: null,
    password_hash: await server.passwords.hash(user.password),
    status: user.status ?? 'active',
  });
}

/** Registers a client the way the CLI does, validated by the running provider. */
export async function registerTestClient(server: TestServer, registration: ClientRegistration): Promise<RegisteredClient> {
  return registerClient(
    {
      db: server.database.db,
      validateMetadata: async (metadata) => {
        await server.oidc.current().Client.validate(metadata);
      },
    },
    registration,
  );
}
