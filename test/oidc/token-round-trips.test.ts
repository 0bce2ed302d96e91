import type { KyselyPlugin, RootOperationNode } from 'kysely';
import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { signInThroughPages } from '../support/admin-api.ts';
import { discoverRelyingParty } from '../support/relying-party.ts';
import { describeStatement } from '../support/statements.ts';
import { createUser, registerTestClient, startTestServer, type TestServer } from '../support/server.ts';

const redirectUri = 'http://localhost:8080/callback';
const person = { login: 'nguyenvanba', password: 'mật khẩu đủ dài 2026' };

/** What the server asked the database while `counting` was on: the kind of each statement and the tables it reads or writes. */
let statements: string[] = [];
let counting = false;
const tablesOfInterest = ['oidc_payloads', 'clients', 'users', 'org_units'];
const recordStatements: KyselyPlugin = {
  transformQuery({ node }): RootOperationNode {
    if (counting) {
      statements.push(describeStatement(node, tablesOfInterest));
    }
    return node;
  },
  transformResult: ({ result }) => Promise.resolve(result),
};

async function statementsOf(request: () => Promise<unknown>): Promise<string[]> {
  statements = [];
  counting = true;
  try {
    await request();
  } finally {
    counting = false;
  }
  return statements;
}

let server: TestServer;
let portal: oidc.Configuration;
let personId: string;

beforeAll(async () => {
  server = await startTestServer({}, { observeQueries: recordStatements });
  personId = (await createUser(server, { username: person.login, password: person.password, fullName: 'Nguyễn Văn Ba' })).id;
  const registered = await registerTestClient(server, { name: 'Cổng dịch vụ công', redirectUris: [redirectUri], firstParty: true });
  portal = await discoverRelyingParty(server.issuer, registered.clientId, registered.clientSecret);
});

afterAll(async () => {
  await server.stop();
});

async function signedIn() {
  const signIn = await signInThroughPages(portal, redirectUri, person, { scope: 'openid profile offline_access', prompt: 'consent' });
  return oidc.authorizationCodeGrant(portal, signIn.callback, { pkceCodeVerifier: signIn.verifier, expectedState: signIn.state });
}

/**
 * The token endpoints' round trips to the database, counted on a real server: each one is a
 * network round trip and a system call on both sides, the largest cost these requests have.
 * The client comes from the client cache once it has been read.
 */
describe('round trips to the database per token request', () => {
  it('userinfo reads the access token, its grant and the person in one query', async () => {
    const tokens = await signedIn();
    await oidc.fetchUserInfo(portal, tokens.access_token, personId);
    let claims: oidc.UserInfoResponse | undefined;
    const seen = await statementsOf(async () => (claims = await oidc.fetchUserInfo(portal, tokens.access_token, personId)));
    expect(claims).toMatchObject({ sub: personId, name: 'Nguyễn Văn Ba', preferred_username: person.login });
    expect(claims?.['updated_at']).toBeTypeOf('number');
    expect(seen.filter((statement) => statement.includes('oidc_payloads') || statement.includes('users'))).toEqual(['select oidc_payloads users']);
    expect(seen.some((statement) => statement.includes('clients'))).toBe(false);
  });

  it('introspection finds the token under every token model and its grant in one query', async () => {
    const tokens = await signedIn();
    let answer: oidc.IntrospectionResponse | undefined;
    const seen = await statementsOf(async () => (answer = await oidc.tokenIntrospection(portal, tokens.access_token)));
    expect(answer).toMatchObject({ active: true, sub: personId });
    // Only what the request asked: a background job (mail, back-channel logout delivery) may query meanwhile.
    expect(seen.filter((statement) => statement.includes('oidc_payloads') || statement.includes('clients'))).toEqual(['select oidc_payloads users']);
  });

  it('a refresh reads the refresh token, its grant and the person in one query', async () => {
    const tokens = await signedIn();
    let refreshed: oidc.TokenEndpointResponse | undefined;
    const seen = await statementsOf(async () => (refreshed = await oidc.refreshTokenGrant(portal, tokens.refresh_token!)));
    expect(refreshed?.refresh_token).toBeDefined();
    expect(seen.filter((statement) => statement.startsWith('select') && (statement.includes('oidc_payloads') || statement.includes('users'))))
      .toEqual(['select oidc_payloads users']);
  });

  it('refuses userinfo and refresh for a person suspended a moment before: the person is read with the token, not remembered', async () => {
    const tokens = await signedIn();
    await oidc.fetchUserInfo(portal, tokens.access_token, personId);
    await server.database.db.updateTable('users').set({ status: 'suspended' }).where('id', '=', personId).execute();
    try {
      await expect(oidc.fetchUserInfo(portal, tokens.access_token, personId)).rejects.toMatchObject({ status: 401 });
      await expect(oidc.refreshTokenGrant(portal, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    } finally {
      await server.database.db.updateTable('users').set({ status: 'active' }).where('id', '=', personId).execute();
    }
  });

  it('a sign-in reads the person on their own only twice: by login name, and once more; the session and the code bring them along', async () => {
    const seen = await statementsOf(() => signedIn());
    // Without the person read with the session and the code, oidc-provider's account lookups made it four.
    expect(seen.filter((statement) => statement === 'select users')).toHaveLength(2);
    expect(seen.filter((statement) => statement === 'select oidc_payloads users').length).toBeGreaterThan(3);
  });

  it('still refuses the access token of a grant revoked a moment before: nothing is read from an earlier request', async () => {
    const tokens = await signedIn();
    await oidc.fetchUserInfo(portal, tokens.access_token, personId);
    await oidc.tokenRevocation(portal, tokens.refresh_token!);
    await expect(oidc.fetchUserInfo(portal, tokens.access_token, personId)).rejects.toMatchObject({ status: 401 });
  });
});
