import { randomUUID } from 'node:crypto';

import { sql } from 'kysely';
import type { AdapterPayload } from 'oidc-provider';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

import { insertClient } from '../../src/db/queries/clients.ts';
import type { ClientMetadata } from '../../src/db/schema.ts';
import { deleteExpiredPayloads, upsertPayload } from '../../src/db/queries/oidc-payloads.ts';
import { hashClientSecret } from '../../src/domain/client-secrets.ts';
import { createKyselyAdapter, type AdapterConstructor } from '../../src/oidc/adapter.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';
import { describeStatement } from '../support/statements.ts';

let database: TestDatabase;
let Adapter: AdapterConstructor;

beforeAll(async () => {
  database = await createTestDatabase();
  // Nothing here registers clients at /reg: the provider's own store is tested in test/oidc/dynamic-registration.test.ts.
  const refuse = () => Promise.reject(new Error('no /reg in this test'));
  Adapter = createKyselyAdapter(database.db, { save: refuse, remove: refuse, pendingVisible: () => false });
});

afterAll(async () => {
  await database.close();
});

const id = () => randomUUID();
const anHourAgo = () => new Date(Date.now() - 3600_000);

/** A row whose expiry is already past, as the adapter would have left one an hour ago. */
async function storeExpired(model: string, payloadId: string, extra: { uid?: string; userCode?: string; grantId?: string } = {}) {
  await upsertPayload(database.db, {
    model,
    id: payloadId,
    payload: { jti: payloadId, kind: model },
    grantId: extra.grantId ?? null,
    userCode: extra.userCode ?? null,
    uid: extra.uid ?? null,
    accountId: null,
    expiresAt: anHourAgo(),
  });
}

describe('the Kysely adapter for oidc-provider artifacts', () => {
  it('finds what it stored', async () => {
    const sessions = new Adapter('Session');
    const sessionId = id();
    const payload: AdapterPayload = { jti: sessionId, kind: 'Session', accountId: randomUUID(), loginTs: 1_767_225_600 };
    await sessions.upsert(sessionId, payload, 600);
    expect(await sessions.find(sessionId)).toEqual(payload);
  });

  it('keeps models apart: the same id under another model is not found', async () => {
    const sharedId = id();
    await new Adapter('AccessToken').upsert(sharedId, { jti: sharedId, kind: 'AccessToken' }, 600);
    expect(await new Adapter('RefreshToken').find(sharedId)).toBeUndefined();
    expect(await new Adapter('AccessToken').find(sharedId)).toMatchObject({ kind: 'AccessToken' });
  });

  it('answers the lookups of one token value under the three token models at once (introspection) with one query', async () => {
    const tokenId = id();
    await new Adapter('RefreshToken').upsert(tokenId, { jti: tokenId, kind: 'RefreshToken' }, 600);
    await new Adapter('AccessToken').upsert(id(), { kind: 'AccessToken' }, 600);
    let tokenReads = 0;
    const counting = database.db.withPlugin({
      transformQuery: ({ node }) => {
        if (describeStatement(node, ['oidc_payloads']) === 'select oidc_payloads') tokenReads += 1;
        return node;
      },
      transformResult: ({ result }) => Promise.resolve(result),
    });
    const refuse = () => Promise.reject(new Error('no /reg in this test'));
    const Counted = createKyselyAdapter(counting, { save: refuse, remove: refuse, pendingVisible: () => false });
    const found = await Promise.all(['AccessToken', 'ClientCredentials', 'RefreshToken'].map((model) => new Counted(model).find(tokenId)));
    expect(found).toEqual([undefined, undefined, { jti: tokenId, kind: 'RefreshToken' }]);
    expect(tokenReads).toBe(1);
    // Once answered, the next lookup reads again: nothing is kept past the request that asked.
    await new Adapter('RefreshToken').destroy(tokenId);
    expect(await new Counted('RefreshToken').find(tokenId)).toBeUndefined();
    expect(tokenReads).toBe(2);
  });

  it('gives finds of one model that shared a lookup a copy each, and a find alone of its model the payload as read, uncopied', async () => {
    const tokenId = id();
    await new Adapter('RefreshToken').upsert(tokenId, { jti: tokenId, kind: 'RefreshToken', scope: 'openid' }, 600);
    const copies = vi.spyOn(globalThis, 'structuredClone');
    try {
      // Two requests racing for one refresh token: oidc-provider changes what it found (consumes, rotates).
      const [first, second] = await Promise.all([new Adapter('RefreshToken').find(tokenId), new Adapter('RefreshToken').find(tokenId)]);
      expect(first).toEqual({ jti: tokenId, kind: 'RefreshToken', scope: 'openid' });
      expect(second).not.toBe(first);
      first!['scope'] = 'changed by the first request';
      expect(second!['scope']).toBe('openid');
      expect(copies).toHaveBeenCalledTimes(2);

      copies.mockClear();
      expect(await new Adapter('RefreshToken').find(tokenId)).toEqual({ jti: tokenId, kind: 'RefreshToken', scope: 'openid' });
      expect(copies).not.toHaveBeenCalled();

      // Introspection looks the token up in every model at once: one lookup, one find per model, and
      // the one model that holds it hands over its payload uncopied.
      const [asAccessToken, asClientCredentials, asRefreshToken] = await Promise.all(
        ['AccessToken', 'ClientCredentials', 'RefreshToken'].map((model) => new Adapter(model).find(tokenId)),
      );
      expect([asAccessToken, asClientCredentials]).toEqual([undefined, undefined]);
      expect(asRefreshToken).toEqual({ jti: tokenId, kind: 'RefreshToken', scope: 'openid' });
      expect(copies).not.toHaveBeenCalled();
    } finally {
      copies.mockRestore();
    }
  });

  it('replaces the payload when the same id is stored again', async () => {
    const sessions = new Adapter('Session');
    const sessionId = id();
    await sessions.upsert(sessionId, { jti: sessionId, accountId: 'first' }, 600);
    await sessions.upsert(sessionId, { jti: sessionId, accountId: 'second' }, 600);
    expect(await sessions.find(sessionId)).toEqual({ jti: sessionId, accountId: 'second' });
  });

  it('stores without expiry when expiresIn is 0', async () => {
    const grants = new Adapter('Grant');
    const grantId = id();
    await grants.upsert(grantId, { jti: grantId }, 0);
    expect(await grants.find(grantId)).toEqual({ jti: grantId });
  });

  it('returns undefined for an unknown id', async () => {
    expect(await new Adapter('Session').find(id())).toBeUndefined();
  });

  // PostgreSQL text cannot hold U+0000: such a lookup failed in the database, a 500 at /token or /auth.
  it('finds nothing, rather than failing, for an id, uid or user code with a NUL character (a client sent it)', async () => {
    const sessions = new Adapter('Session');
    await expect(sessions.find('a\u0000b')).resolves.toBeUndefined();
    await expect(sessions.findByUid('\u0000')).resolves.toBeUndefined();
    await expect(new Adapter('DeviceCode').findByUserCode('ABCD\u0000')).resolves.toBeUndefined();
    await expect(sessions.destroy('a\u0000b')).resolves.toBeUndefined();
    await expect(new Adapter('Client').find('client\u0000')).resolves.toBeUndefined();
  });

  it('refuses to store a payload with a NUL character (a request parameter) as the protocol\u2019s invalid_request', async () => {
    const interactionId = id();
    await expect(new Adapter('Interaction').upsert(interactionId, { jti: interactionId, params: { state: 'a\u0000b' } }, 600))
      .rejects.toMatchObject({ error: 'invalid_request', statusCode: 400 });
    expect(await new Adapter('Interaction').find(interactionId)).toBeUndefined();
  });

  it('does not find a payload once it has expired, even before the sweep removes it', async () => {
    const codeId = id();
    await storeExpired('AuthorizationCode', codeId);
    expect(await new Adapter('AuthorizationCode').find(codeId)).toBeUndefined();
  });

  it('does not find a payload stored with expiresIn 1 after that second has passed', async () => {
    const interactions = new Adapter('Interaction');
    const interactionId = id();
    await interactions.upsert(interactionId, { jti: interactionId }, 1);
    expect(await interactions.find(interactionId)).toBeDefined();
    await new Promise((resolve) => setTimeout(resolve, 1100));
    expect(await interactions.find(interactionId)).toBeUndefined();
  });

  it('marks a payload consumed, so that a replayed code is recognised', async () => {
    const codes = new Adapter('AuthorizationCode');
    const codeId = id();
    await codes.upsert(codeId, { jti: codeId, kind: 'AuthorizationCode' }, 60);
    expect((await codes.find(codeId))?.consumed).toBeUndefined();
    await codes.consume(codeId);
    const consumed = (await codes.find(codeId))?.consumed as unknown;
    expect(consumed).toBeTruthy();
    expect(typeof consumed).toBe('number');
    expect(Math.abs((consumed as number) - Date.now() / 1000)).toBeLessThan(60);
  });

  it('lets exactly one of several racing consumers win; the others fail as a replay and the grant dies', async () => {
    const grants = new Adapter('Grant');
    const codes = new Adapter('AuthorizationCode');
    const tokens = new Adapter('AccessToken');
    const grantId = id();
    const codeId = id();
    const tokenId = id();
    await grants.upsert(grantId, { jti: grantId, kind: 'Grant' }, 600);
    await codes.upsert(codeId, { jti: codeId, kind: 'AuthorizationCode', grantId }, 60);
    await tokens.upsert(tokenId, { jti: tokenId, kind: 'AccessToken', grantId }, 600);

    const results = await Promise.allSettled([1, 2, 3].map(() => codes.consume(codeId)));
    expect(results.filter((result) => result.status === 'fulfilled')).toHaveLength(1);
    for (const result of results.filter((candidate) => candidate.status === 'rejected')) {
      expect((result).reason).toMatchObject({ error: 'invalid_grant' });
    }
    expect(await grants.find(grantId)).toBeUndefined();
    expect(await tokens.find(tokenId)).toBeUndefined();
  });

  it('refuses to consume what is not there (revoked or never issued)', async () => {
    await expect(new Adapter('RefreshToken').consume(id())).rejects.toMatchObject({ error: 'invalid_grant' });
  });

  it('refuses a pushed authorization request used twice with the authorization endpoint\u2019s own error', async () => {
    const requests = new Adapter('PushedAuthorizationRequest');
    const requestId = id();
    await requests.upsert(requestId, { jti: requestId, kind: 'PushedAuthorizationRequest' }, 60);
    await requests.consume(requestId);
    await expect(requests.consume(requestId)).rejects.toMatchObject({ error: 'invalid_request_uri' });
  });

  it('removes a destroyed payload', async () => {
    const sessions = new Adapter('Session');
    const sessionId = id();
    await sessions.upsert(sessionId, { jti: sessionId }, 600);
    await sessions.destroy(sessionId);
    expect(await sessions.find(sessionId)).toBeUndefined();
  });

  it('revokes every artifact of a grant across models and leaves other grants alone', async () => {
    const revoked = id();
    const kept = id();
    const ids = { code: id(), access: id(), refresh: id(), keptAccess: id() };
    await new Adapter('AuthorizationCode').upsert(ids.code, { jti: ids.code, grantId: revoked }, 60);
    await new Adapter('AccessToken').upsert(ids.access, { jti: ids.access, grantId: revoked }, 600);
    await new Adapter('RefreshToken').upsert(ids.refresh, { jti: ids.refresh, grantId: revoked }, 3600);
    await new Adapter('AccessToken').upsert(ids.keptAccess, { jti: ids.keptAccess, grantId: kept }, 600);

    await new Adapter('AccessToken').revokeByGrantId(revoked);

    expect(await new Adapter('AuthorizationCode').find(ids.code)).toBeUndefined();
    expect(await new Adapter('AccessToken').find(ids.access)).toBeUndefined();
    expect(await new Adapter('RefreshToken').find(ids.refresh)).toBeUndefined();
    expect(await new Adapter('AccessToken').find(ids.keptAccess)).toMatchObject({ grantId: kept });
  });

  it('finds a session by its uid, and not an expired one', async () => {
    const sessions = new Adapter('Session');
    const sessionId = id();
    const uid = id();
    await sessions.upsert(sessionId, { jti: sessionId, uid }, 600);
    expect(await sessions.findByUid(uid)).toMatchObject({ jti: sessionId, uid });
    expect(await sessions.findByUid(id())).toBeUndefined();

    const expiredUid = id();
    await storeExpired('Session', id(), { uid: expiredUid });
    expect(await sessions.findByUid(expiredUid)).toBeUndefined();
  });

  it('finds a device code by its user code, within its own model only', async () => {
    const deviceCodes = new Adapter('DeviceCode');
    const deviceCodeId = id();
    await deviceCodes.upsert(deviceCodeId, { jti: deviceCodeId, userCode: 'BDFH-JKLM' }, 600);
    expect(await deviceCodes.findByUserCode('BDFH-JKLM')).toMatchObject({ jti: deviceCodeId });
    expect(await deviceCodes.findByUserCode('XXXX-XXXX')).toBeUndefined();
    expect(await new Adapter('Session').findByUserCode('BDFH-JKLM')).toBeUndefined();
  });

  it('still finds an expired device code until the sweep, so that oidc-provider can answer expired_token', async () => {
    const deviceCodeId = id();
    await storeExpired('DeviceCode', deviceCodeId, { userCode: 'CDFG-HJKL' });
    const deviceCodes = new Adapter('DeviceCode');
    expect(await deviceCodes.find(deviceCodeId)).toMatchObject({ jti: deviceCodeId });
    expect(await deviceCodes.findByUserCode('CDFG-HJKL')).toMatchObject({ jti: deviceCodeId });
  });

  it('records a JWT id once: saving the same ReplayDetection id again is refused, and of racing saves exactly one wins', async () => {
    const replays = new Adapter('ReplayDetection');
    const jti = id();
    await replays.upsert(jti, { jti, iss: 'client' }, 60);
    await expect(replays.upsert(jti, { jti, iss: 'client' }, 60)).rejects.toMatchObject({ error: 'invalid_request' });

    const raced = id();
    const outcomes = await Promise.allSettled(Array.from({ length: 5 }, () => replays.upsert(raced, { jti: raced, iss: 'client' }, 60)));
    expect(outcomes.filter((outcome) => outcome.status === 'fulfilled')).toHaveLength(1);
  });

  it('records a JWT id again once its first record has expired', async () => {
    const jti = id();
    await storeExpired('ReplayDetection', jti);
    await expect(new Adapter('ReplayDetection').upsert(jti, { jti, iss: 'client' }, 60)).resolves.toBeUndefined();
  });
});

describe('deleteExpiredPayloads', () => {
  it('removes only the rows whose expiry has passed', async () => {
    await database.db.deleteFrom('oidc_payloads').execute();
    const live = id();
    const forever = id();
    await new Adapter('Session').upsert(live, { jti: live }, 600);
    await new Adapter('Grant').upsert(forever, { jti: forever }, 0);
    await storeExpired('AccessToken', id());
    await storeExpired('AuthorizationCode', id());
    await storeExpired('Session', id());

    expect(await deleteExpiredPayloads(database.db)).toBe(3);
    const remaining = await database.db.selectFrom('oidc_payloads').select('id').execute();
    expect(remaining.map((row) => row.id).sort()).toEqual([live, forever].sort());
    expect(await deleteExpiredPayloads(database.db)).toBe(0);
  });

  it('works through a backlog larger than one batch', async () => {
    await database.db.deleteFrom('oidc_payloads').execute();
    for (let index = 0; index < 7; index += 1) await storeExpired('AccessToken', id());
    const live = id();
    await new Adapter('Session').upsert(live, { jti: live }, 600);
    expect(await deleteExpiredPayloads(database.db, 3)).toBe(7);
    expect(await new Adapter('Session').find(live)).toEqual({ jti: live });
  });
});

describe('the Client model', () => {
  const clients = () => new Adapter('Client');

  async function storeClient(options: { secret?: string; firstParty?: boolean; adminApiAccess?: boolean } = {}) {
    const clientId = id();
    await insertClient(database.db, {
      client_id: clientId,
      client_secret_hash: options.secret ? hashClientSecret(options.secret) : null,
      metadata: { client_id: clientId, client_name: 'Hệ thống điều hành', redirect_uris: ['https://app.tiengiang.gov.vn/cb'] },
      first_party: options.firstParty ?? false,
      admin_api_access: options.adminApiAccess ?? false,
    });
    return clientId;
  }

  it('reads metadata from the clients table, with the stored hash as client_secret, first_party, admin_api_access, mfa_required, access_restricted and scim_access', async () => {
    const clientId = await storeClient({ secret: 'the secret shown once to the developer', firstParty: true, adminApiAccess: true });
    expect(await clients().find(clientId)).toEqual({
      client_id: clientId,
      client_name: 'Hệ thống điều hành',
      redirect_uris: ['https://app.tiengiang.gov.vn/cb'],
      client_secret: hashClientSecret('the secret shown once to the developer'),
      first_party: true,
      admin_api_access: true,
      mfa_required: false,
      access_restricted: false,
      scim_access: false,
    });
  });

  it('gives an app allowed SCIM the client_credentials grant, with which it obtains SCIM tokens', async () => {
    const clientId = await storeClient({ secret: 'the secret shown once to the developer' });
    await database.db.updateTable('clients').set({
      scim_access: true, metadata: sql<ClientMetadata>`metadata || '{"grant_types": ["authorization_code", "refresh_token"]}'::jsonb`,
    }).where('client_id', '=', clientId).execute();
    expect(await clients().find(clientId)).toMatchObject({ scim_access: true, grant_types: ['authorization_code', 'refresh_token', 'client_credentials'] });
  });

  it('reads a public client without any client_secret', async () => {
    const clientId = await storeClient();
    const metadata = await clients().find(clientId);
    expect(metadata).toMatchObject({ client_id: clientId, first_party: false });
    expect(metadata).not.toHaveProperty('client_secret');
  });

  it('reads a disabled client as absent', async () => {
    const clientId = await storeClient({ secret: 'the secret shown once to the developer' });
    await database.db.updateTable('clients').set({ status: 'disabled' }).where('client_id', '=', clientId).execute();
    expect(await clients().find(clientId)).toBeUndefined();
  });

  it('returns undefined for an unknown client', async () => {
    expect(await clients().find('no-such-client')).toBeUndefined();
  });

  it('reads a pending client (waiting for approval) as absent', async () => {
    const clientId = await storeClient({ secret: 'the secret shown once to the developer' });
    await database.db.updateTable('clients').set({ status: 'pending' }).where('client_id', '=', clientId).execute();
    expect(await clients().find(clientId)).toBeUndefined();
  });

  it('hands a client that oidc-provider writes (dynamic registration) to the registration store, never to the payloads table', async () => {
    const clientId = id();
    await expect(clients().upsert(clientId, { client_id: clientId, redirect_uris: ['https://attacker.example/cb'] }, 0)).rejects.toThrow('no /reg in this test');
    expect(await clients().find(clientId)).toBeUndefined();
    expect(await database.db.selectFrom('oidc_payloads').select('id').where('id', '=', clientId).executeTakeFirst()).toBeUndefined();
  });
});
