import { randomUUID } from 'node:crypto';

import { sql, type KyselyPlugin, type RootOperationNode } from 'kysely';
import type { AdapterPayload } from 'oidc-provider';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';

import { notificationChannels, type Unlisten } from '../../src/db/notifications.ts';
import { insertClient } from '../../src/db/queries/clients.ts';
import { upsertTokenExchangePermission } from '../../src/db/queries/token-exchange-permissions.ts';
import { hashClientSecret } from '../../src/domain/client-secrets.ts';
import { createKyselyAdapter, type AdapterConstructor } from '../../src/oidc/adapter.ts';
import { ClientCache } from '../../src/oidc/client-cache.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';

let database: TestDatabase;
let cache: ClientCache;
let unlisten: Unlisten;
let Adapter: AdapterConstructor;
/** Statements that read the clients table, as the database saw them. */
let clientReads = 0;
/** Notifications on the clients channel received so far. */
let announcements = 0;

const countClientReads: KyselyPlugin = {
  transformQuery({ node }): RootOperationNode {
    if (node.kind === 'SelectQueryNode' && JSON.stringify(node.from).includes('"name":"clients"')) clientReads += 1;
    return node;
  },
  transformResult: ({ result }) => Promise.resolve(result),
};

beforeAll(async () => {
  database = await createTestDatabase();
  cache = new ClientCache();
  // What the server does (main.ts): the database's announcement makes the cache forget.
  unlisten = await database.listen(notificationChannels.clients, () => {
    announcements += 1;
    cache.forget();
  });
  // The listener is told once when it starts listening (PostgreSQL's connects in the background).
  if (database.kind === 'postgres') await vi.waitFor(() => expect(announcements).toBeGreaterThan(0));
  const refuse = () => Promise.reject(new Error('no /reg in this test'));
  Adapter = createKyselyAdapter(database.db.withPlugin(countClientReads), { save: refuse, remove: refuse, pendingVisible: () => false }, cache);
});

afterAll(async () => {
  await unlisten();
  await database.close();
});

beforeEach(() => {
  cache.forget();
  clientReads = 0;
});

/**
 * A new client, once its own announcement has arrived: the cache would otherwise forget it again
 * when the notification of its insert lands in the middle of a test.
 */
async function storeClient(): Promise<string> {
  const clientId = randomUUID();
  const before = announcements;
  await insertClient(database.db, {
    client_id: clientId,
    client_secret_hash: hashClientSecret('the secret shown once'),
    metadata: { client_id: clientId, client_name: 'Hệ thống quản lý bệnh viện', redirect_uris: ['https://his.tiengiang.gov.vn/cb'], grant_types: ['authorization_code'] },
  });
  await expect.poll(() => announcements).toBeGreaterThan(before);
  clientReads = 0;
  return clientId;
}

const find = (clientId: string) => new Adapter('Client').find(clientId);

/** A change the way an operator in psql (or another node) makes it: raw SQL this process's writers never saw. */
const disableByHand = (clientId: string) => sql`update clients set status = 'disabled' where client_id = ${clientId}`.execute(database.db);

describe('the client cache', () => {
  it('reads an active client from the database once, then from memory', async () => {
    const clientId = await storeClient();
    const first = await find(clientId);
    expect(await find(clientId)).toEqual(first);
    expect(await find(clientId)).toMatchObject({ client_id: clientId, client_name: 'Hệ thống quản lý bệnh viện' });
    expect(clientReads).toBe(1);
  });

  it('hands out a frozen client, so that nothing one request tries on it reaches the next', async () => {
    const clientId = await storeClient();
    const first = (await find(clientId))!;
    expect(() => (first['redirect_uris'] as string[]).push('https://attacker.example/cb')).toThrow(TypeError);
    expect(() => { first['client_name'] = 'changed'; }).toThrow(TypeError);
    expect(await find(clientId)).toMatchObject({ client_name: 'Hệ thống quản lý bệnh viện', redirect_uris: ['https://his.tiengiang.gov.vn/cb'] });
  });

  it('never remembers an unknown client id, so that made-up ids cannot fill it', async () => {
    expect(await find('no-such-client')).toBeUndefined();
    expect(await find('no-such-client')).toBeUndefined();
    expect(clientReads).toBe(2);
  });

  it('forgets at once when this process changes a client: the very next lookup sees it disabled', async () => {
    const clientId = await storeClient();
    expect(await find(clientId)).toBeDefined();
    await database.db.updateTable('clients').set({ status: 'disabled' }).where('client_id', '=', clientId).execute();
    expect(await find(clientId)).toBeUndefined();
  });

  it('forgets when this process changes the token exchange allow-list, which decides a grant type', async () => {
    const clientId = await storeClient();
    expect((await find(clientId))?.['grant_types']).toEqual(['authorization_code']);
    await upsertTokenExchangePermission(database.db, { clientId, audience: 'https://his.tiengiang.gov.vn', scope: 'openid', grantedBy: 'system' });
    expect((await find(clientId))?.['grant_types']).toEqual(['authorization_code', 'urn:ietf:params:oauth:grant-type:token-exchange']);
  });

  it('forgets when the database announces a change made elsewhere (another node, the CLI, psql)', async () => {
    const clientId = await storeClient();
    expect(await find(clientId)).toBeDefined();
    await disableByHand(clientId);
    await expect.poll(() => find(clientId), { timeout: 2_000, interval: 10 }).toBeUndefined();
  });

  it('does not keep what a lookup read while the cache was told to forget: it may predate the change', async () => {
    const clientId = await storeClient();
    let release!: () => void;
    const stale: AdapterPayload = { client_id: clientId, client_name: 'as it was before the change' };
    const slowRead = cache.find(clientId, () => new Promise((resolve) => (release = () => resolve(stale))));
    cache.forget();
    release();
    expect(await slowRead).toBe(stale);
    expect(await find(clientId)).toMatchObject({ client_name: 'Hệ thống quản lý bệnh viện' });
  });
});
