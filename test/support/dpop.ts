import { createHash, randomUUID } from 'node:crypto';

import { exportJWK, SignJWT } from 'jose';
import * as oidc from 'openid-client';

/**
 * DPoP proofs made by hand (RFC 9449 §4.2), for the cases a well-behaved client never produces:
 * a stale one, one for another URL, method or token. openid-client makes the good ones.
 */
export async function handMadeProof(
  keyPair: oidc.CryptoKeyPair,
  claims: { htm: string; htu: string; accessToken?: string; iat?: number; jti?: string },
): Promise<string> {
  const { kty, crv, x, y } = await exportJWK(keyPair.publicKey);
  return new SignJWT({
    htm: claims.htm,
    htu: claims.htu,
    jti: claims.jti ?? randomUUID(),
    ...(claims.accessToken ? { ath: createHash('sha256').update(claims.accessToken).digest('base64url') } : {}),
  })
    .setProtectedHeader({ typ: 'dpop+jwt', alg: 'ES256', jwk: { kty: kty!, crv: crv!, x: x!, y: y! } })
    .setIssuedAt(claims.iat ?? Math.floor(Date.now() / 1000))
    .sign(keyPair.privateKey);
}

/** Every DPoP proof the relying party sends from now on, in order: what an eavesdropper would keep. */
export function recordDpopProofs(relyingParty: oidc.Configuration): string[] {
  const proofs: string[] = [];
  relyingParty[oidc.customFetch] = (url, options) => {
    const proof = new Headers(options.headers).get('dpop');
    if (proof) proofs.push(proof);
    return fetch(url, options);
  };
  return proofs;
}
