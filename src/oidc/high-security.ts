import { errors, type ClientMetadata, type KoaContextWithOIDC } from 'oidc-provider';
import { clientFlag } from './client-flags.ts';

/**
 * The high-security profile, set per client (`high_security: true`; the hospital system, say). It
 * follows the FAPI 2.0 Security Profile where that applies without mutual TLS:
 *
 * - confidential clients only, authenticating with private_key_jwt;
 * - pushed authorization requests required, code flow only (no implicit, no hybrid), PKCE with S256;
 * - access tokens sender-constrained with DPoP, and short-lived; refresh tokens rotate on every
 *   use and are bound twice: to the client by its authentication, and to the DPoP key (provider.ts);
 * - client assertions and request objects signed with PS256, ES256 or EdDSA, the assertion's
 *   audience the issuer alone, a request object with exp, nbf and aud, valid for at most an hour;
 * - `iss` in every authorization response (RFC 9207), which oidc-provider adds for all clients.
 *
 * Departures from FAPI 2.0: refresh tokens rotate (the profile advises against rotation, but a
 * stolen one is then noticed, which the issue asks for), and DPoP nonces are not issued, since
 * they need a secret shared by every node (FAPI 2.0 leaves server nonces optional).
 *
 * oidc-provider's own `fapi` feature is not used: it decides its profile once per request, before
 * the client may be known, and enforces less than this list. Here the profile is one flag that
 * oidc-provider re-reads with the client's metadata on every request.
 */
export const highSecurity = {
  accessTokenSeconds: 5 * 60,
  signingAlgorithms: ['PS256', 'ES256', 'EdDSA'] as readonly string[],
  requestObjectMaxSeconds: 60 * 60,
  grantTypes: ['authorization_code', 'refresh_token'] as readonly string[],
} as const;

export function isHighSecurity(client: object | undefined): boolean {
  return clientFlag(client, 'high_security');
}

/**
 * What turning the profile on means for the client's metadata, applied each time oidc-provider
 * loads the client (so the profile holds whatever else the stored metadata says): PAR and DPoP
 * become required, and metadata the profile forbids makes the client invalid.
 */
export function applyHighSecurityProfile(metadata: ClientMetadata): void {
  if (metadata.token_endpoint_auth_method !== 'private_key_jwt') {
    throw new errors.InvalidClientMetadata('a high-security client authenticates with private_key_jwt (and registers its keys)');
  }
  const grantTypes = (metadata.grant_types as string[] | undefined) ?? ['authorization_code'];
  const forbidden = grantTypes.filter((grantType) => !highSecurity.grantTypes.includes(grantType));
  if (forbidden.length > 0) {
    throw new errors.InvalidClientMetadata(`a high-security client uses the code flow only, not ${forbidden.join(', ')}`);
  }
  metadata.require_pushed_authorization_requests = true;
  metadata.dpop_bound_access_tokens = true;
}

/** Extra rules for a high-security client's private_key_jwt assertion (FAPI 2.0 §5.3.2.1). */
export function assertHighSecurityClientAssertion(
  ctx: KoaContextWithOIDC,
  claims: Record<string, unknown>,
  header: Record<string, unknown>,
  client: object,
): void {
  if (!isHighSecurity(client)) return;
  if (claims['aud'] !== ctx.oidc.issuer) {
    throw new errors.InvalidClientAuth('a high-security client assertion names the issuer identifier alone as its audience');
  }
  if (!highSecurity.signingAlgorithms.includes(String(header['alg']))) {
    throw new errors.InvalidClientAuth(`a high-security client signs with ${highSecurity.signingAlgorithms.join(', ')}`);
  }
}

/**
 * Extra rules for a high-security client's request object (FAPI 2.0 §5.3.1.1 via JAR). At /auth,
 * oidc-provider also passes a pushed request here as an unsigned internal JWT: it was checked (and
 * its signature, if the client signed it) when it was pushed, so it is not checked again.
 */
export function assertHighSecurityRequestObject(
  ctx: KoaContextWithOIDC,
  claims: Record<string, unknown>,
  header: Record<string, unknown>,
  client: object,
): void {
  if (!isHighSecurity(client) || 'PushedAuthorizationRequest' in ctx.oidc.entities) return;
  for (const claim of ['exp', 'nbf', 'aud']) {
    if (claims[claim] === undefined) throw new errors.InvalidRequestObject(`a high-security request object needs the '${claim}' claim`);
  }
  const lifetime = Number(claims['exp']) - Number(claims['nbf']);
  if (!(lifetime > 0 && lifetime <= highSecurity.requestObjectMaxSeconds)) {
    throw new errors.InvalidRequestObject('a high-security request object is valid for at most an hour (exp - nbf)');
  }
  if (!highSecurity.signingAlgorithms.includes(String(header['alg']))) {
    throw new errors.InvalidRequestObject(`a high-security request object is signed with ${highSecurity.signingAlgorithms.join(', ')}`);
  }
}
