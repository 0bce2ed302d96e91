import { calculateJwkThumbprint, exportJWK, generateKeyPair } from 'jose';
import * as oidc from 'openid-client';

/**
 * openid-client as a relying party of the server under test. Test servers listen on plain http on
 * loopback, which openid-client refuses unless told; it marks that switch deprecated only so that
 * it stands out, and this is the one place it is used.
 */
export function discoverRelyingParty(issuer: string, clientId: string, clientSecret?: string | null): Promise<oidc.Configuration> {
  return discover(issuer, clientId, clientSecret ?? undefined, clientSecret ? undefined : oidc.None());
}

/** A relying party that authenticates with private_key_jwt, signing with `privateKey`. */
export function discoverKeyedRelyingParty(issuer: string, clientId: string, privateKey: oidc.CryptoKey): Promise<oidc.Configuration> {
  return discover(issuer, clientId, undefined, oidc.PrivateKeyJwt(privateKey));
}

function discover(issuer: string, clientId: string, clientSecret: string | undefined, clientAuth: oidc.ClientAuth | undefined): Promise<oidc.Configuration> {
  return oidc.discovery(new URL(issuer), clientId, clientSecret, clientAuth, {
    // eslint-disable-next-line @typescript-eslint/no-deprecated
    execute: [oidc.allowInsecureRequests],
  });
}

/** A client's key pair (ES256 unless told), with its public half as a JWKS to register. */
export async function clientKeys(alg: 'ES256' | 'PS256' | 'RS256' = 'ES256'): Promise<{ privateKey: oidc.CryptoKey; jwks: { keys: Record<string, unknown>[] } }> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const jwk = await exportJWK(publicKey);
  return { privateKey, jwks: { keys: [{ ...jwk, alg, use: 'sig', kid: await calculateJwkThumbprint(jwk) }] } };
}

export interface AuthorizationRequest {
  readonly url: URL;
  /** The PKCE verifier the app keeps for the token request. */
  readonly verifier: string;
}

/**
 * An authorization request as a well-behaved app makes it: PKCE with S256 and `scope=openid`, plus
 * whatever the test adds or overrides (a state, more scopes, ui_locales, a hostile redirect_uri…).
 */
export async function authorizationRequest(
  relyingParty: oidc.Configuration,
  redirectUri: string,
  params: Record<string, string> = {},
): Promise<AuthorizationRequest> {
  const verifier = oidc.randomPKCECodeVerifier();
  const url = oidc.buildAuthorizationUrl(relyingParty, {
    redirect_uri: redirectUri,
    scope: 'openid',
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    ...params,
  });
  return { url, verifier };
}
