import { createRemoteJWKSet, jwtVerify } from 'jose';
import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { allowTokenExchange, revokeTokenExchange } from '../../src/domain/token-exchange-permissions.ts';
import { signInThroughPages } from '../support/admin-api.ts';
import { discoverRelyingParty } from '../support/relying-party.ts';
import { createUser, registerTestClient, startTestServer, type TestServer } from '../support/server.ts';

const redirectUri = 'http://localhost:8080/callback';
const person = { login: 'phanthilan', password: 'mật khẩu đủ dài 2026' };
/** The hospital system's API, which the task-tracking system calls on a person's behalf. */
const hospitalApi = 'https://benhvien.tiengiang.gov.vn/api';
const tokenExchange = 'urn:ietf:params:oauth:grant-type:token-exchange';
const accessTokenType = 'urn:ietf:params:oauth:token-type:access_token';

let server: TestServer;
let personId: string;
let tasks: oidc.Configuration;
let tasksId: string;
let portal: oidc.Configuration;

beforeAll(async () => {
  server = await startTestServer();
  personId = (await createUser(server, { username: person.login, password: person.password, fullName: 'Phan Thị Lan' })).id;
  const tasksClient = await registerTestClient(server, { name: 'Hệ thống chỉ đạo điều hành', redirectUris: [redirectUri], firstParty: true });
  tasksId = tasksClient.clientId;
  tasks = await discoverRelyingParty(server.issuer, tasksId, tasksClient.clientSecret);
  const portalClient = await registerTestClient(server, { name: 'Cổng dịch vụ công', redirectUris: [redirectUri], firstParty: true });
  portal = await discoverRelyingParty(server.issuer, portalClient.clientId, portalClient.clientSecret);
  await allowTokenExchange(server.database.db, { clientId: tasksId, audience: hospitalApi, scope: 'records:read appointments:read' });
});

afterAll(async () => {
  await server.stop();
});

/** A person's access token, as the app got it from signing them in. */
async function personsToken(relyingParty: oidc.Configuration): Promise<string> {
  const signIn = await signInThroughPages(relyingParty, redirectUri, person, { scope: 'openid profile' });
  return (await oidc.authorizationCodeGrant(relyingParty, signIn.callback, { pkceCodeVerifier: signIn.verifier, expectedState: signIn.state })).access_token;
}

function exchange(relyingParty: oidc.Configuration, subjectToken: string, params: Record<string, string>) {
  return oidc.genericGrantRequest(relyingParty, tokenExchange, { subject_token: subjectToken, subject_token_type: accessTokenType, ...params });
}

async function exchangeAudits(outcome: 'success' | 'denied') {
  return server.database.db.selectFrom('audit_events').selectAll().where('action', '=', 'token.exchange').where('outcome', '=', outcome).execute();
}

describe('token exchange (RFC 8693) through the allow-list', () => {
  it('gives an allowed app a narrower token for the other API: the person as sub, the app as act, one audience, fewer scopes, a short life', async () => {
    const subjectToken = await personsToken(tasks);
    const exchanged = await exchange(tasks, subjectToken, { audience: hospitalApi, scope: 'records:read' });
    expect(exchanged).toMatchObject({ issued_token_type: accessTokenType, token_type: 'bearer', scope: 'records:read' });
    expect(exchanged.expires_in).toBeLessThanOrEqual(5 * 60);

    const { payload, protectedHeader } = await jwtVerify(exchanged.access_token, createRemoteJWKSet(new URL(`${server.issuer}/jwks`)), {
      issuer: server.issuer, audience: hospitalApi, typ: 'at+jwt',
    });
    expect(protectedHeader.alg).toBe('ES256');
    expect(payload).toMatchObject({ sub: personId, act: { sub: tasksId }, client_id: tasksId, scope: 'records:read', aud: hospitalApi });
    expect(payload.exp! - payload.iat!).toBeLessThanOrEqual(5 * 60);

    const [event] = (await exchangeAudits('success')).slice(-1);
    expect(event).toMatchObject({ actor_type: 'client', actor_id: tasksId, target_type: 'user', target_id: personId, details: { audience: hospitalApi, scope: 'records:read' } });
  });

  it('gives every allowed scope when none is asked for, and takes the audience as a resource indicator too', async () => {
    const exchanged = await exchange(tasks, await personsToken(tasks), { resource: hospitalApi });
    expect(exchanged.scope).toBe('records:read appointments:read');
  });

  it('refuses an audience the allow-list does not pair with the app, and audits the refusal', async () => {
    const before = (await exchangeAudits('denied')).length;
    await expect(exchange(tasks, await personsToken(tasks), { audience: 'https://thue.tiengiang.gov.vn/api' })).rejects.toMatchObject({ error: 'invalid_target' });
    const denied = await exchangeAudits('denied');
    expect(denied).toHaveLength(before + 1);
    expect(denied.at(-1)).toMatchObject({ actor_id: tasksId, target_id: personId, details: { audience: 'https://thue.tiengiang.gov.vn/api', scope: null } });
  });

  it('refuses Mekong ID\'s own admin API as an audience, even when the allow-list names it', async () => {
    const adminApi = `${server.issuer}/api/v1`;
    await allowTokenExchange(server.database.db, { clientId: tasksId, audience: adminApi, scope: 'api' });
    await expect(exchange(tasks, await personsToken(tasks), { audience: adminApi })).rejects.toMatchObject({ error: 'invalid_target' });
    await revokeTokenExchange(server.database.db, { clientId: tasksId, audience: adminApi });
  });

  it('refuses a scope beyond what the allow-list grants for the pair', async () => {
    await expect(exchange(tasks, await personsToken(tasks), { audience: hospitalApi, scope: 'records:read records:write' }))
      .rejects.toMatchObject({ error: 'invalid_scope' });
  });

  it('refuses an app the allow-list does not name at all', async () => {
    await expect(exchange(portal, await personsToken(portal), { audience: hospitalApi })).rejects.toMatchObject({ error: 'invalid_request', error_description: 'requested grant type is not allowed for this client' });
  });

  it('refuses a subject token that was issued to another app', async () => {
    await expect(exchange(tasks, await personsToken(portal), { audience: hospitalApi })).rejects.toMatchObject({ error: 'invalid_grant' });
  });

  it('refuses an exchanged token as the subject of another exchange, and a token that is not one', async () => {
    const exchanged = await exchange(tasks, await personsToken(tasks), { audience: hospitalApi });
    await expect(exchange(tasks, exchanged.access_token, { audience: hospitalApi })).rejects.toMatchObject({ error: 'invalid_grant' });
    await expect(exchange(tasks, 'made-up', { audience: hospitalApi })).rejects.toMatchObject({ error: 'invalid_grant' });
  });

  it('refuses once the pair is revoked; allowing and revoking are audited', async () => {
    const subjectToken = await personsToken(tasks);
    await revokeTokenExchange(server.database.db, { clientId: tasksId, audience: hospitalApi });
    await expect(exchange(tasks, subjectToken, { audience: hospitalApi })).rejects.toMatchObject({ error: 'invalid_request', error_description: 'requested grant type is not allowed for this client' });
    const changes = (await server.database.db.selectFrom('audit_events').select(['action', 'target_id', 'before', 'after'])
      .where('action', 'in', ['token_exchange.allow', 'token_exchange.revoke']).orderBy('id').execute())
      .filter((change) => JSON.stringify(change.before ?? change.after).includes(hospitalApi));
    expect(changes).toEqual([
      { action: 'token_exchange.allow', target_id: tasksId, before: null, after: { audience: hospitalApi, scope: 'records:read appointments:read' } },
      { action: 'token_exchange.revoke', target_id: tasksId, before: { audience: hospitalApi, scope: 'records:read appointments:read' }, after: null },
    ]);
    await allowTokenExchange(server.database.db, { clientId: tasksId, audience: hospitalApi, scope: 'records:read appointments:read' });
  });
});
