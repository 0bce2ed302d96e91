import { SignJWT } from 'jose';
import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { clientKeys, discoverRelyingParty } from '../support/relying-party.ts';
import { createUser, registerTestClient, startTestServer, type TestServer } from '../support/server.ts';
import { signInAt, UserAgent } from '../support/user-agent.ts';

const redirectUri = 'http://localhost:8080/callback';
const person = { login: 'dangthithu', password: 'mật khẩu đủ dài 2026' };

let server: TestServer;
let keys: Awaited<ReturnType<typeof clientKeys>>;
let keyed: oidc.Configuration;
let keyless: oidc.Configuration;

beforeAll(async () => {
  server = await startTestServer();
  await createUser(server, { username: person.login, password: person.password, fullName: 'Đặng Thị Thu' });
  keys = await clientKeys('ES256');
  // A secret for the token endpoint, and keys for signing its requests: JAR does not need private_key_jwt.
  const withKeys = await registerTestClient(server, { name: 'Hệ thống quản lý bệnh viện', redirectUris: [redirectUri], firstParty: true, jwks: keys.jwks });
  keyed = await discoverRelyingParty(server.issuer, withKeys.clientId, withKeys.clientSecret);
  const withoutKeys = await registerTestClient(server, { name: 'Cổng dịch vụ công', redirectUris: [redirectUri], firstParty: true });
  keyless = await discoverRelyingParty(server.issuer, withoutKeys.clientId, withoutKeys.clientSecret);
});

afterAll(async () => {
  await server.stop();
});

/** A request object signed by hand, for the ones openid-client would never make. */
async function signedRequest(relyingParty: oidc.Configuration, signingKey: oidc.CryptoKey, claims: Record<string, unknown>) {
  const clientId = relyingParty.clientMetadata().client_id;
  const jwt = await new SignJWT({ client_id: clientId, response_type: 'code', redirect_uri: redirectUri, scope: 'openid', state: oidc.randomState(), ...claims })
    .setProtectedHeader({ alg: 'ES256', typ: 'oauth-authz-req+jwt' })
    .setIssuer(clientId)
    .setAudience(server.issuer)
    .setIssuedAt()
    .setExpirationTime('5m')
    .sign(signingKey);
  const url = new URL(`${server.issuer}/auth`);
  url.search = new URLSearchParams({ client_id: clientId, request: jwt }).toString();
  return url;
}

/** Where a refused authorization request leads: back to the app with an error, or an error page. */
async function refusal(url: URL): Promise<string | null> {
  const response = await new UserAgent().request(url.href);
  const location = response.headers.get('location');
  if (location) return new URL(location).searchParams.get('error');
  return /invalid_request_object|invalid_request|unauthorized_client/.exec(await response.text())?.[0] ?? `HTTP ${response.status}`;
}

describe('signed request objects (JAR, RFC 9101)', () => {
  it('signs the person in from a request object signed with a registered key, driven by openid-client', async () => {
    const verifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const url = await oidc.buildAuthorizationUrlWithJAR(keyed, {
      redirect_uri: redirectUri, scope: 'openid profile', response_type: 'code', state,
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
    }, keys.privateKey);
    expect(url.searchParams.has('request')).toBe(true);
    expect(url.searchParams.has('scope')).toBe(false);
    const step = await signInAt(new UserAgent(), url.href, redirectUri, person);
    expect(step.kind).toBe('redirect');
    const tokens = await oidc.authorizationCodeGrant(keyed, new URL(step.url), { pkceCodeVerifier: verifier, expectedState: state });
    expect(tokens.claims()?.aud).toBe(keyed.clientMetadata().client_id);
  });

  it('refuses a request object signed by a key the client did not register', async () => {
    const stranger = await clientKeys('ES256');
    expect(await refusal(await signedRequest(keyed, stranger.privateKey, {}))).toBe('invalid_request_object');
  });

  it('refuses a request object whose signed parameters were changed in transit', async () => {
    const url = await signedRequest(keyed, keys.privateKey, {});
    const [header, payload, signature] = url.searchParams.get('request')!.split('.');
    const changed = { ...(JSON.parse(Buffer.from(payload!, 'base64url').toString()) as Record<string, unknown>), redirect_uri: 'https://attacker.example/callback' };
    url.searchParams.set('request', [header, Buffer.from(JSON.stringify(changed)).toString('base64url'), signature].join('.'));
    expect(await refusal(url)).toBe('invalid_request_object');
  });

  it('refuses an unsigned request object (alg none)', async () => {
    const clientId = keyed.clientMetadata().client_id;
    const unsigned = [
      Buffer.from(JSON.stringify({ alg: 'none' })).toString('base64url'),
      Buffer.from(JSON.stringify({ iss: clientId, aud: server.issuer, client_id: clientId, response_type: 'code', redirect_uri: redirectUri, scope: 'openid' })).toString('base64url'),
      '',
    ].join('.');
    const url = new URL(`${server.issuer}/auth`);
    url.search = new URLSearchParams({ client_id: clientId, request: unsigned }).toString();
    expect(await refusal(url)).toBe('invalid_request_object');
  });

  it('refuses a request object from a client that registered no keys', async () => {
    expect(await refusal(await signedRequest(keyless, keys.privateKey, {}))).toBe('invalid_request_object');
  });
});
