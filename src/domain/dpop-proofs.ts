import { createHash } from 'node:crypto';

import { calculateJwkThumbprint, EmbeddedJWK, errors as joseErrors, jwtVerify, type JWK } from 'jose';
import type { Kysely } from 'kysely';

import { insertPayloadIfAbsent } from '../db/queries/oidc-payloads.ts';
import type { Database } from '../db/schema.ts';

/**
 * A resource server's side of DPoP (RFC 9449 §4.3, §7): the proof that comes with a DPoP-bound
 * access token must be a fresh JWT for this very request (method and URL), signed by the key the
 * token is bound to (its cnf.jkt), naming the token (ath), and never seen before (jti). What
 * Mekong ID's own admin API checks; oidc-provider checks the same at userinfo.
 */

/** How far a proof's iat may be from now, either way. A proof is remembered twice as long. */
export const dpopProofWindowSeconds = 60;
/** What a DPoP proof may be signed with, here and at oidc-provider's endpoints (provider.ts). */
export const dpopSigningAlgorithms = ['ES256', 'EdDSA'] as const;

export class DpopProofError extends Error {
  override name = 'DpopProofError';
}

export interface DpopRequest {
  /** The DPoP header's value. */
  readonly proof: string;
  readonly method: string;
  /** The URL the request was made to, as the client named it (no query, no fragment). */
  readonly url: string;
  readonly accessToken: string;
  /** The thumbprint the token is bound to (its cnf.jkt). */
  readonly jkt: string;
}

const sha256 = (value: string) => createHash('sha256').update(value).digest('base64url');

export async function verifyDpopProof(db: Kysely<Database>, request: DpopRequest, now = new Date()): Promise<void> {
  let payload;
  let protectedHeader;
  try {
    ({ payload, protectedHeader } = await jwtVerify(request.proof, EmbeddedJWK, { typ: 'dpop+jwt', algorithms: [...dpopSigningAlgorithms] }));
  } catch (error) {
    if (error instanceof joseErrors.JOSEError) throw new DpopProofError('the DPoP proof is not a valid dpop+jwt signed with its embedded key');
    throw error;
  }
  if (payload['htm'] !== request.method) throw new DpopProofError('the DPoP proof is for another HTTP method (htm)');
  const htu = typeof payload['htu'] === 'string' && URL.canParse(payload['htu']) ? new URL(payload['htu']) : null;
  if (htu) {
    htu.search = '';
    htu.hash = '';
  }
  if (htu?.href !== new URL(request.url).href) throw new DpopProofError('the DPoP proof is for another URL (htu)');
  const seconds = now.getTime() / 1000;
  if (typeof payload.iat !== 'number' || Math.abs(seconds - payload.iat) > dpopProofWindowSeconds) {
    throw new DpopProofError('the DPoP proof is not fresh (iat): make a new one for each request');
  }
  if (payload['ath'] !== sha256(request.accessToken)) throw new DpopProofError('the DPoP proof is for another access token (ath)');
  if ((await calculateJwkThumbprint(protectedHeader.jwk as JWK)) !== request.jkt) {
    throw new DpopProofError('the DPoP proof is signed with a key other than the one the token is bound to');
  }
  if (typeof payload.jti !== 'string' || payload.jti.length === 0 || payload.jti.length > 200) throw new DpopProofError('the DPoP proof needs a jti');
  const remembered = await insertPayloadIfAbsent(db, {
    model: 'ApiDPoPProof',
    id: sha256(`${request.jkt}:${payload.jti}`),
    payload: { jkt: request.jkt },
    expiresAt: new Date(now.getTime() + 2 * dpopProofWindowSeconds * 1000),
  });
  if (!remembered) throw new DpopProofError('this DPoP proof was already used (jti): make a new one for each request');
}
