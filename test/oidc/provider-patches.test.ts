import v8 from 'node:v8';
import vm from 'node:vm';

import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { serviceToken, signInThroughPages } from '../support/admin-api.ts';
import { discoverRelyingParty } from '../support/relying-party.ts';
import { createUser, registerTestClient, startTestServer, type TestServer } from '../support/server.ts';

/**
 * patches/oidc-provider+9.13.3.patch, applied by `npm ci` (postinstall: patch-package):
 * - keeps two errors off the success path of userinfo and introspection: oidc-provider built an
 *   InvalidToken (two stack captures each) three times per userinfo request whether or not it was
 *   thrown, and parsed every opaque token as a JWT header to find it is not one, through a thrown
 *   TypeError;
 * - defines `ctx.oidc` once, on the contexts' prototype, instead of as a new getter closure on every
 *   request's context. With one getter per context, every context after the first fell back to a
 *   dictionary of its own instead of sharing a hidden class, and under load every request in flight
 *   at a young-generation GC was promoted to old space: full GCs ran several times a second.
 * These tests hold what the patch must not change, and fail if npm did not apply it.
 */
const redirectUri = 'http://localhost:8080/callback';
const person = { login: 'tranthimai', password: 'mật khẩu đủ dài 2026' };

let server: TestServer;
let portal: oidc.Configuration;
let personId: string;
let tokens: oidc.TokenEndpointResponse;

beforeAll(async () => {
  server = await startTestServer();
  personId = (await createUser(server, { username: person.login, password: person.password, fullName: 'Trần Thị Mai' })).id;
  const registered = await registerTestClient(server, { name: 'Cổng dịch vụ công', redirectUris: [redirectUri], firstParty: true });
  portal = await discoverRelyingParty(server.issuer, registered.clientId, registered.clientSecret);
  const signIn = await signInThroughPages(portal, redirectUri, person, { scope: 'openid profile' });
  tokens = await oidc.authorizationCodeGrant(portal, signIn.callback, { pkceCodeVerifier: signIn.verifier, expectedState: signIn.state });
});

afterAll(async () => {
  await server.stop();
});

/** How many InvalidToken errors oidc-provider built while `run` ran: each one captures its stack with Error.captureStackTrace. */
async function invalidTokensBuiltDuring(run: () => Promise<unknown>): Promise<number> {
  const capture = Object.getOwnPropertyDescriptor(Error, 'captureStackTrace')!;
  let built = 0;
  Error.captureStackTrace = (target: object, constructorOpt?: (...args: never[]) => unknown) => {
    if (constructorOpt?.name === 'InvalidToken') built += 1;
    Reflect.apply(capture.value as typeof Error.captureStackTrace, Error, [target, constructorOpt]);
  };
  try {
    await run();
  } finally {
    Object.defineProperty(Error, 'captureStackTrace', capture);
  }
  return built;
}

/**
 * V8's own answer to whether an object keeps fast properties (a hidden class shared with its like)
 * or has fallen back to a dictionary of its own: %HasFastProperties, compiled while natives syntax
 * is allowed.
 */
function hasFastProperties(value: object): boolean {
  v8.setFlagsFromString('--allow-natives-syntax');
  try {
    return (vm.runInThisContext('(value) => %HasFastProperties(value)') as (value: object) => boolean)(value);
  } finally {
    v8.setFlagsFromString('--no-allow-natives-syntax');
  }
}

describe('oidc-provider as patched by patch-package', () => {
  it('answers userinfo for a valid token without building an InvalidToken it does not throw', async () => {
    let claims: oidc.UserInfoResponse | undefined;
    const built = await invalidTokensBuiltDuring(async () => (claims = await oidc.fetchUserInfo(portal, tokens.access_token, personId)));
    expect(claims).toMatchObject({ sub: personId, name: 'Trần Thị Mai' });
    expect(built).toBe(0);
  });

  it('still refuses an unknown access token at userinfo with 401 invalid_token, building the error it throws', async () => {
    let response: Response | undefined;
    const built = await invalidTokensBuiltDuring(async () => {
      response = await fetch(`${server.issuer}/me`, { headers: { authorization: 'Bearer made-up-token-value-that-was-never-issued' } });
    });
    expect(response?.status).toBe(401);
    expect(response?.headers.get('www-authenticate')).toContain('error="invalid_token"');
    expect(await response?.json()).toMatchObject({ error: 'invalid_token', error_description: 'invalid token provided' });
    expect(built).toBe(1);
  });

  it('introspects an opaque token, answers active: false for an unknown one, and still refuses a JWT', async () => {
    await expect(oidc.tokenIntrospection(portal, tokens.access_token)).resolves.toMatchObject({ active: true, sub: personId });
    await expect(oidc.tokenIntrospection(portal, 'made-up-token-value-that-was-never-issued')).resolves.toEqual({ active: false });
    // An ID token is a JWT: structured tokens cannot be introspected (oidc-provider's rule, kept).
    await expect(oidc.tokenIntrospection(portal, tokens.id_token!)).rejects.toMatchObject({ error: 'unsupported_token_type' });
  });

  it('keeps every request context on a shared hidden class, with ctx.oidc still its own', async () => {
    const service = await registerTestClient(server, { name: 'Đồng bộ danh bạ', kind: 'service' });
    const provider = server.oidc.current();
    const contexts: { oidc?: { route?: string } }[] = [];
    const keep = (ctx: { oidc?: { route?: string } }) => contexts.push(ctx);
    provider.on('grant.success', keep);
    try {
      for (let request = 0; request < 3; request += 1) await serviceToken(server, service.clientId, service.clientSecret!);
    } finally {
      provider.off('grant.success', keep);
    }
    expect(contexts.map((ctx) => ctx.oidc?.route)).toEqual(['token', 'token', 'token']);
    expect(new Set(contexts.map((ctx) => ctx.oidc)).size).toBe(3);
    // Unpatched, a context is a dictionary once any earlier request defined its own getter: a
    // getter per context cannot share a hidden class.
    expect(contexts.map(hasFastProperties)).toEqual([true, true, true]);
  });
});
