import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';

import { ConfigError, loadConfig, type Config } from '../config/index.ts';
import { DatabaseLockedError, openDatabase, type DatabaseHandle } from '../db/database.ts';
import { listMigrations, migrateToLatest } from '../db/migrator.ts';
import { runExclusively } from '../db/queries/job-locks.ts';
import { listSigningKeys } from '../db/queries/signing-keys.ts';
import { adminRoles, type AdminRole } from '../db/schema.ts';
import { createSuperAdministrator } from '../domain/accounts.ts';
import { noOrigin, verifyAuditChain } from '../domain/audit.ts';
import { clientKinds, registerClient, type ClientKind, type ServiceRole } from '../domain/clients.ts';
import { allowTokenExchange, listTokenExchanges, revokeTokenExchange } from '../domain/token-exchange-permissions.ts';
import { defaultDemoPeople } from '../domain/demo-province.ts';
import { assertDemoSeedAllowed, describeDemoSeed, seedDemoProvince } from '../domain/demo-seed.ts';
import { createPasswordHasher } from '../domain/passwords.ts';
import { UnsealError } from '../domain/sealed-box.ts';
import { importUsers } from '../domain/user-import.ts';
import { describeKeys, ensureSigningKeys, rotateSigningKeys } from '../domain/signing-keys.ts';
import { AppError } from '../errors.ts';
import { runGovernanceJobs } from '../governance-jobs.ts';
import { createProviderPages } from '../http/provider-pages.ts';
import { createViews } from '../http/views.ts';
import { bufferedStdout, createLogger } from '../logger.ts';
import { createBackchannelLogout } from '../oidc/backchannel.ts';
import { createLiveProvider } from '../oidc/live-provider.ts';
import { issueInitialAccessToken, signingKeyRetentionSeconds } from '../oidc/provider.ts';
import { startServer } from '../main.ts';

const usage = `usage: mekong-id <command>

  serve                                   run the server (migrates first)
  migrate [--status]                      apply pending migrations, or list them
  seed --demo [--people N] [--force]      load the demo province: org tree, people (400 unless told), demo
                                          accounts and apps, printing their passwords and secrets once;
                                          refused when NODE_ENV=production unless --force
  admin create --username U --password-stdin [--full-name NAME]
                                          create a super administrator
  clients create --name N --redirect-uri URI [--redirect-uri URI…] [--type web|spa|native]
                 [--post-logout-redirect-uri URI…] [--backchannel-logout-uri URI] [--first-party] [--require-mfa]
                 [--auth client_secret_basic|private_key_jwt] [--jwks-file FILE | --jwks-uri URI]
                 [--require-par] [--high-security] [--json]
  clients create --name N --service [--role ROLE[@ORG_CODE]…] [--json]
  clients create --name N --type device [--json]
                                          register an OIDC client; its secret is printed once.
                                          A service client's roles (super_admin, org_admin, helpdesk,
                                          auditor, developer) are global, or over ORG_CODE's subtree.
                                          A device (a shared screen, a kiosk) has no secret: people sign
                                          it in at /device with the code it shows (RFC 8628).
                                          private_key_jwt clients have no secret: they sign with the keys
                                          they register (also used for signed request objects);
                                          --require-par allows authorization requests only through PAR;
                                          --high-security: PAR, PKCE, DPoP-bound short-lived tokens, code
                                          flow only (needs --auth private_key_jwt)
  clients initial-access-token [--pre-approved] [--json]
                                          issue a token for registering apps at /reg (RFC 7591), printed
                                          once, valid 7 days; its apps wait for approval in /admin/clients
                                          unless --pre-approved
  token-exchange allow --client ID --audience URI --scope "S1 S2"
                                          let a client exchange a person's access token for one aimed at
                                          another app's API (RFC 8693), with these scopes at most; audited
  token-exchange revoke --client ID --audience URI
  token-exchange list [--client ID] [--json]
  keys list                               list signing keys and their state
  keys rotate                             add new signing keys (published now, signing after KEY_PUBLISH_AHEAD_SECONDS)
  audit verify                            check the audit log's hash chain; exit 2 names the first bad row
  users import FILE.csv [--dry-run] [--json]
                                          import people from HR's CSV, idempotently; --dry-run changes nothing;
                                          exit 65 when some rows were refused (each is listed)
  governance run [--now ISO] [--json]     run the governance job once (what the server runs every
                                          GOVERNANCE_INTERVAL_SECONDS): personnel decisions whose date has
                                          come, movers' grace periods that ended, access reviews due or
                                          to remind, the inactivity policy;
                                          --now runs it as of another time; exit 1 when a step failed
`;

class UsageError extends Error {}

type Command = (config: Config, args: string[]) => Promise<number>;

/** Every command by its words; the configuration is loaded only once a real command is chosen. */
const commands: Record<string, Command> = {
  serve: (config) => serve(config),
  migrate: migrate,
  seed: seed,
  'admin create': createAdmin,
  'clients create': createClient,
  'clients initial-access-token': createInitialAccessToken,
  'token-exchange allow': allowExchange,
  'token-exchange revoke': revokeExchange,
  'token-exchange list': listExchanges,
  'keys list': (config) => listKeys(config),
  'keys rotate': (config) => rotateKeys(config),
  'audit verify': (config) => verifyAudit(config),
  'users import': importUsersFromFile,
  'governance run': runGovernance,
};

async function main(argv: string[]): Promise<number> {
  const [first = '', second = ''] = argv;
  if (first === '' || first === 'help' || first === '--help' || first === '-h') {
    process.stdout.write(usage);
    return 0;
  }
  const name = [`${first} ${second}`, first].find((candidate) => Object.hasOwn(commands, candidate));
  if (!name) throw new UsageError(`unknown command "${[first, second].filter(Boolean).join(' ')}"`);
  return commands[name]!(loadConfig(), argv.slice(name.split(' ').length));
}

async function serve(config: Config): Promise<number> {
  // A person at a terminal in development reads lines, not JSON; production and pipes get JSON.
  const pretty = process.stdout.isTTY && config.env === 'development';
  const logger = createLogger(config.logLevel, pretty ? { pretty } : { destination: bufferedStdout() });
  // Listened for from the start: a server still waiting for its database stops as cleanly as a running one.
  const stopping = new AbortController();
  const signalled = new Promise<void>((resolve) => {
    const shutdown = (signal: string) => {
      logger.info({ signal }, 'shutting down');
      stopping.abort();
      resolve();
    };
    process.once('SIGTERM', () => shutdown('SIGTERM'));
    process.once('SIGINT', () => shutdown('SIGINT'));
  });
  let server: Awaited<ReturnType<typeof startServer>>;
  try {
    server = await startServer(config, logger, { signal: stopping.signal });
  } catch (error) {
    if (stopping.signal.aborted) return 0;
    throw error;
  }
  logger.info(
    { issuer: config.issuer, database: server.database.kind, discovery: `${config.issuer}/.well-known/openid-configuration` },
    `Mekong ID is listening on port ${config.port}`,
  );
  await signalled;
  await server.stop();
  return 0;
}

/** Runs a command against a migrated database and always closes it. */
async function withDatabase<T>(config: Config, run: (database: DatabaseHandle) => Promise<T>): Promise<T> {
  const database = await openDatabase(config.database, { poolSize: 2 });
  try {
    await migrateToLatest(database.db);
    return await run(database);
  } finally {
    await database.close();
  }
}

async function migrate(config: Config, args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { status: { type: 'boolean' } }, strict: true });
  const database = await openDatabase(config.database, { poolSize: 2 });
  try {
    if (values.status) {
      for (const migration of await listMigrations(database.db)) {
        console.log(`${migration.executedAt ? migration.executedAt.toISOString() : 'pending                 '}  ${migration.name}`);
      }
      return 0;
    }
    const applied = await migrateToLatest(database.db);
    console.log(applied.length ? `applied: ${applied.join(', ')}` : 'the database is up to date');
    return 0;
  } finally {
    await database.close();
  }
}

async function createAdmin(config: Config, args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: { username: { type: 'string' }, 'password-stdin': { type: 'boolean' }, 'full-name': { type: 'string' } },
    strict: true,
  });
  if (!values.username) throw new UsageError('admin create needs --username');
  if (!values['password-stdin']) throw new UsageError('admin create reads the password from standard input: pass --password-stdin');
  const password = await readPasswordFromStdin();
  const user = await withDatabase(config, (database) =>
    createSuperAdministrator(
      { db: database.db, passwords: createPasswordHasher(config.argon2), passwordPolicy: config.passwordPolicy },
      { username: values.username!, password, ...(values['full-name'] ? { fullName: values['full-name'] } : {}) },
    ),
  );
  console.log(`created super administrator ${user.username} (${user.id})`);
  return 0;
}

async function readPasswordFromStdin(): Promise<string> {
  if (process.stdin.isTTY) throw new UsageError('pipe the password in, for example: printf %s "$PASSWORD" | mekong-id admin create …');
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  // One trailing newline is what `echo` adds; anything else is part of the password.
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

async function createClient(config: Config, args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      name: { type: 'string' },
      'redirect-uri': { type: 'string', multiple: true },
      'post-logout-redirect-uri': { type: 'string', multiple: true },
      'backchannel-logout-uri': { type: 'string' },
      type: { type: 'string' },
      service: { type: 'boolean' },
      'first-party': { type: 'boolean' },
      'require-mfa': { type: 'boolean' },
      auth: { type: 'string' },
      'jwks-file': { type: 'string' },
      'jwks-uri': { type: 'string' },
      'require-par': { type: 'boolean' },
      'high-security': { type: 'boolean' },
      role: { type: 'string', multiple: true },
      json: { type: 'boolean' },
    },
    strict: true,
  });
  if (!values.name) throw new UsageError('clients create needs --name');
  const serviceRoles = (values.role ?? []).map(parseServiceRole);
  if (serviceRoles.length > 0 && !values.service) throw new UsageError('--role is for service clients: add --service');
  const kind = values.service ? 'service' : (values.type ?? 'web');
  if (!(clientKinds as readonly string[]).includes(kind)) throw new UsageError(`--type must be one of ${clientKinds.join(', ')}`);
  const authMethod = values.auth ?? 'client_secret_basic';
  if (authMethod !== 'client_secret_basic' && authMethod !== 'private_key_jwt') throw new UsageError('--auth must be client_secret_basic or private_key_jwt');
  const jwks = values['jwks-file'] === undefined ? undefined : readJwksFile(values['jwks-file']);

  const registered = await withDatabase(config, async (database) => {
    await ensureSigningKeys(database.db, config.masterKey);
    // Validated by a real provider, so that nothing is stored that the server could not load.
    const oidc = await createLiveProvider({ config, db: database.db, pages: createProviderPages(createViews()), logger: createLogger('silent') });
    return registerClient(
      { db: database.db, validateMetadata: async (metadata) => { await oidc.current().Client.validate(metadata); } },
      {
        name: values.name!,
        kind: kind as ClientKind,
        redirectUris: values['redirect-uri'] ?? [],
        postLogoutRedirectUris: values['post-logout-redirect-uri'] ?? [],
        ...(values['backchannel-logout-uri'] ? { backchannelLogoutUri: values['backchannel-logout-uri'] } : {}),
        firstParty: values['first-party'] ?? false,
        mfaRequired: values['require-mfa'] ?? false,
        authMethod,
        ...(jwks ? { jwks } : {}),
        ...(values['jwks-uri'] ? { jwksUri: values['jwks-uri'] } : {}),
        requirePar: values['require-par'] ?? false,
        highSecurity: values['high-security'] ?? false,
      },
      { serviceRoles },
    );
  });

  if (values.json) {
    console.log(JSON.stringify({ ...registered.metadata, client_id: registered.clientId, client_secret: registered.clientSecret, issuer: config.issuer }, null, 2));
  } else {
    console.log(`client_id:     ${registered.clientId}`);
    if (registered.clientSecret) console.log(`client_secret: ${registered.clientSecret}\n(shown once: only its hash is stored)`);
    console.log(`issuer:        ${config.issuer}`);
  }
  return 0;
}

async function createInitialAccessToken(config: Config, args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { 'pre-approved': { type: 'boolean' }, json: { type: 'boolean' } }, strict: true });
  const issued = await withDatabase(config, async (database) => {
    await ensureSigningKeys(database.db, config.masterKey);
    const oidc = await createLiveProvider({ config, db: database.db, pages: createProviderPages(createViews()), logger: createLogger('silent') });
    return issueInitialAccessToken(oidc.current(), database.db, { operator: cliActor('clients initial-access-token') }, { preApproved: values['pre-approved'] ?? false });
  });
  if (values.json) {
    console.log(JSON.stringify({ initial_access_token: issued.token, expires_at: issued.expiresAt.toISOString(), registration_endpoint: `${config.issuer}/reg` }, null, 2));
  } else {
    console.log(`initial_access_token: ${issued.token}\n(shown once; valid until ${issued.expiresAt.toISOString()})`);
    console.log(`registration_endpoint: ${config.issuer}/reg`);
  }
  return 0;
}

/** A JWKS file as a developer exports it: public keys only (a private part is refused, not stored). */
function readJwksFile(file: string): { keys: Record<string, unknown>[] } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (error) {
    throw new UsageError(`--jwks-file ${file}: ${(error as Error).message}`);
  }
  const keys = (parsed as { keys?: unknown }).keys;
  if (!Array.isArray(keys) || keys.length === 0) throw new UsageError(`--jwks-file ${file}: expected a JWKS, {"keys": [...]}`);
  if (keys.some((key) => typeof key !== 'object' || key === null || 'd' in key)) {
    throw new UsageError(`--jwks-file ${file}: give the public keys only; a private key never leaves the app`);
  }
  return { keys: keys as Record<string, unknown>[] };
}

async function allowExchange(config: Config, args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { client: { type: 'string' }, audience: { type: 'string' }, scope: { type: 'string' } }, strict: true });
  if (!values.client || !values.audience || !values.scope) throw new UsageError('token-exchange allow needs --client, --audience and --scope');
  const permission = await withDatabase(config, (database) =>
    allowTokenExchange(database.db, { clientId: values.client!, audience: values.audience!, scope: values.scope! }, { actor: cliActor('token-exchange allow') }),
  );
  console.log(`${permission.client_id} may exchange tokens for ${permission.audience} (scope: ${permission.scope})`);
  return 0;
}

async function revokeExchange(config: Config, args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { client: { type: 'string' }, audience: { type: 'string' } }, strict: true });
  if (!values.client || !values.audience) throw new UsageError('token-exchange revoke needs --client and --audience');
  await withDatabase(config, (database) =>
    revokeTokenExchange(database.db, { clientId: values.client!, audience: values.audience! }, { actor: cliActor('token-exchange revoke') }),
  );
  console.log(`${values.client} may no longer exchange tokens for ${values.audience}`);
  return 0;
}

async function listExchanges(config: Config, args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { client: { type: 'string' }, json: { type: 'boolean' } }, strict: true });
  const permissions = await withDatabase(config, (database) => listTokenExchanges(database.db, { clientId: values.client }));
  if (values.json) {
    console.log(JSON.stringify(permissions.map(({ client_id, audience, scope }) => ({ client_id, audience, scope })), null, 2));
  } else {
    for (const permission of permissions) console.log(`${permission.client_id}  ${permission.audience}  ${permission.scope}`);
    if (permissions.length === 0) console.log('no client may exchange tokens');
  }
  return 0;
}

/** Who made a change from the command line, for the audit log. */
const cliActor = (command: string) => ({ type: 'system' as const, id: null, name: `mekong-id ${command} (${os.userInfo().username})` });

async function importUsersFromFile(config: Config, args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: { 'dry-run': { type: 'boolean' }, json: { type: 'boolean' } },
    allowPositionals: true,
    strict: true,
  });
  if (positionals.length !== 1) throw new UsageError('users import needs exactly one file: users import FILE.csv [--dry-run]');
  const file = positionals[0]!;
  let csv: Buffer;
  try {
    csv = fs.readFileSync(file);
  } catch (error) {
    throw new AppError('unreadable_file', `cannot read ${file}: ${(error as Error).message}`);
  }
  const dryRun = values['dry-run'] ?? false;
  const report = await withDatabase(config, (database) =>
    importUsers({ db: database.db, masterKey: config.masterKey }, csv, {
      dryRun,
      actor: cliActor('users import'),
      origin: noOrigin,
      fileName: path.basename(file),
      allowedSubtrees: null,
    }),
  );
  if (values.json) {
    console.log(JSON.stringify(report, null, 2));
  } else {
    const { totals } = report;
    console.log(`${dryRun ? 'dry run, nothing written: would create' : 'created'} ${totals.created}, ` +
      `${dryRun ? 'update' : 'updated'} ${totals.updated}, unchanged ${totals.unchanged}, refused ${totals.failed} (of ${totals.rows} rows)`);
    for (const warning of report.warnings) console.log(`warning${warning.row === null ? '' : ` row ${warning.row}`}${warning.column ? ` [${warning.column}]` : ''}: ${warning.message}`);
    for (const error of report.errors) console.log(`error row ${error.row}${error.column ? ` [${error.column}]` : ''}: ${error.message}`);
  }
  return report.totals.failed > 0 ? 65 : 0;
}

function parseServiceRole(value: string): ServiceRole {
  const [role = '', orgUnitCode] = value.split('@');
  if (!(adminRoles as readonly string[]).includes(role)) throw new UsageError(`--role ${value}: the role must be one of ${adminRoles.join(', ')}`);
  return { role: role as AdminRole, orgUnitCode: orgUnitCode ?? null };
}

async function seed(config: Config, args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { demo: { type: 'boolean' }, people: { type: 'string' }, force: { type: 'boolean' } }, strict: true });
  if (!values.demo) throw new UsageError('seed needs --demo: the demo province is the only seed there is');
  if (values.people !== undefined && !/^\d+$/.test(values.people)) throw new UsageError('--people must be a whole number, 0 or more');
  const options = { people: values.people === undefined ? defaultDemoPeople : Number(values.people), environment: config.env, force: values.force ?? false };
  // Before the database is opened: a refused seed does not even migrate it.
  assertDemoSeedAllowed(options);
  const report = await withDatabase(config, async (database) => {
    await ensureSigningKeys(database.db, config.masterKey);
    const oidc = await createLiveProvider({ config, db: database.db, pages: createProviderPages(createViews()), logger: createLogger('silent') });
    return seedDemoProvince({
      db: database.db,
      passwords: createPasswordHasher(config.argon2),
      masterKey: config.masterKey,
      validateClientMetadata: async (metadata) => { await oidc.current().Client.validate(metadata); },
    }, options);
  });
  console.log(describeDemoSeed(report));
  return report.people.failed > 0 ? 65 : 0;
}

async function verifyAudit(config: Config): Promise<number> {
  const report = await withDatabase(config, (database) => verifyAuditChain(database.db));
  if (report.ok) {
    console.log(`the audit log is intact: ${report.checked} events checked`);
    return 0;
  }
  const explanation = {
    changed: 'its content no longer matches its hash: it was edited after it was written',
    broken_link: 'it does not follow the event before it: an event before it was removed, or it was inserted out of order',
    head_mismatch: 'the log does not end where the chain recorded its newest event: events after this one were removed, or this one was added behind the log\'s back',
  }[report.problem];
  console.error(`the audit log has been tampered with at event ${report.id}: ${explanation} (${report.checked} events before it are intact)`);
  return 2;
}

async function runGovernance(config: Config, args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { now: { type: 'string' }, json: { type: 'boolean' } }, strict: true });
  const now = values.now === undefined ? new Date() : new Date(values.now);
  if (Number.isNaN(now.getTime())) throw new UsageError(`--now must be a date and time such as 2026-07-01T08:00:00+07:00, not "${values.now ?? ''}"`);
  // The log goes to standard error: standard output carries the counts (or the JSON) for scripts.
  const logger = createLogger(config.logLevel, { destination: process.stderr });
  const results = await withDatabase(config, (database) =>
    // The same lock as the servers' periodic run: an operator's run and a node's never overlap.
    runExclusively(database.db, 'governance', (connection) =>
      runGovernanceJobs({ db: connection, backchannelLogout: createBackchannelLogout(), config, logger }, now)));
  if (!results) {
    console.error('the governance job is running on a server right now; try again in a moment');
    return 1;
  }
  if (values.json) console.log(JSON.stringify(results, null, 2));
  else for (const [step, counts] of Object.entries(results)) console.log(`${step}: ${Object.entries(counts).map(([name, value]) => `${name} ${value}`).join(', ')}`);
  return Object.values(results).some((counts) => 'error' in counts) ? 1 : 0;
}

async function listKeys(config: Config): Promise<number> {
  await withDatabase(config, async (database) => {
    await ensureSigningKeys(database.db, config.masterKey);
    const keys = describeKeys(await listSigningKeys(database.db), new Date(), signingKeyRetentionSeconds);
    console.log('kid                                          alg    state      activates at              published until');
    for (const key of keys) {
      console.log([key.kid.padEnd(44), key.alg.padEnd(6), key.state.padEnd(10), key.activatesAt.toISOString().padEnd(25), key.publishedUntil?.toISOString() ?? '-'].join(' '));
    }
  });
  return 0;
}

async function rotateKeys(config: Config): Promise<number> {
  await withDatabase(config, async (database) => {
    await ensureSigningKeys(database.db, config.masterKey);
    const added = await rotateSigningKeys(database.db, config.masterKey, { publishAheadSeconds: config.keyPublishAheadSeconds });
    for (const key of added) console.log(`added ${key.alg} key ${key.kid}: published now, signs from ${key.activates_at.toISOString()}`);
  });
  return 0;
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (error) {
  if (error instanceof UsageError) {
    console.error(`mekong-id: ${error.message}\n\n${usage}`);
    process.exitCode = 64;
  } else if (error instanceof UnsealError) {
    console.error(`mekong-id: the signing keys cannot be decrypted: MASTER_KEY is not the key they were sealed with (${error.message})`);
    process.exitCode = 78;
  } else if (error instanceof ConfigError || error instanceof DatabaseLockedError || error instanceof AppError) {
    console.error(`mekong-id: ${error.message}`);
    process.exitCode = error instanceof AppError ? 65 : 78;
  } else if (error instanceof TypeError && (error as { code?: string }).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
    console.error(`mekong-id: ${error.message}\n\n${usage}`);
    process.exitCode = 64;
  } else {
    console.error('mekong-id: failed:', error);
    process.exitCode = 1;
  }
}
