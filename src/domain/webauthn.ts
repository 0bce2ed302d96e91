import type {
  AuthenticationResponseJSON, AuthenticatorTransport, PublicKeyCredentialCreationOptionsJSON, PublicKeyCredentialRequestOptionsJSON,
  RegistrationResponseJSON, verifyAuthenticationResponse, verifyRegistrationResponse,
} from '@simplewebauthn/server';
import type { Kysely } from 'kysely';
import { z } from 'zod';

import {
  acceptWebAuthnCounter, countUnusedRecoveryCodes, findConfirmedFactors, findWebAuthnFactorByCredentialId, insertWebAuthnFactor,
} from '../db/queries/second-factors.ts';
import type { Database, User } from '../db/schema.ts';
import { isUniqueViolation } from '../db/errors.ts';
import { recordAuditEvent } from './audit.ts';
import { issueRecoveryCodes, type FactorChange } from './second-factors.ts';

/** Loaded on first use: most nodes never see a passkey between restarts, and the library is 7 MB resident. */
const simpleWebAuthn = () => import('@simplewebauthn/server');

/**
 * Passkeys (WebAuthn) as a second factor, with @simplewebauthn/server doing the verification.
 * The relying party is the issuer: its host name is the RP ID and its origin the only one
 * accepted. One algorithm policy for both steps (ES256 and RS256, which every platform offers);
 * user verification is asked for but not required, since a security key without a PIN is still
 * something the person has.
 */
export interface Relying {
  readonly rpId: string;
  readonly origin: string;
}

export const relyingPartyOf = (issuer: string): Relying => ({ rpId: new URL(issuer).hostname, origin: new URL(issuer).origin });

const algorithms = [-7, -257];

/** A response as the browser's `credential.toJSON()` gives it, checked for shape before the library reads it. */
export const registrationResponseSchema = z.object({
  id: z.string().max(1024),
  rawId: z.string().max(1024),
  type: z.literal('public-key'),
  response: z.object({
    clientDataJSON: z.string().max(16_384),
    attestationObject: z.string().max(65_536),
    transports: z.array(z.string().max(32)).max(10).optional(),
  }).loose(),
  clientExtensionResults: z.record(z.string(), z.unknown()).default({}),
  authenticatorAttachment: z.string().max(32).optional(),
}).loose();

export const authenticationResponseSchema = z.object({
  id: z.string().max(1024),
  rawId: z.string().max(1024),
  type: z.literal('public-key'),
  response: z.object({
    clientDataJSON: z.string().max(16_384),
    authenticatorData: z.string().max(16_384),
    signature: z.string().max(4096),
    userHandle: z.string().max(1024).nullish(),
  }).loose(),
  clientExtensionResults: z.record(z.string(), z.unknown()).default({}),
  authenticatorAttachment: z.string().max(32).optional(),
}).loose();

/** Options for adding a passkey; the caller keeps `challenge` for the verification. */
export async function passkeyRegistrationOptions(db: Kysely<Database>, relying: Relying, user: User): Promise<PublicKeyCredentialCreationOptionsJSON> {
  const existing = (await findConfirmedFactors(db, user.id)).filter((factor) => factor.kind === 'webauthn');
  return (await simpleWebAuthn()).generateRegistrationOptions({
    rpName: 'Mekong ID',
    rpID: relying.rpId,
    userID: new Uint8Array(Buffer.from(user.id.replace(/-/g, ''), 'hex')),
    userName: user.username,
    userDisplayName: user.full_name,
    attestationType: 'none',
    excludeCredentials: existing.map((factor) => ({ id: factor.credential_id!, transports: (factor.transports ?? []) as AuthenticatorTransport[] })),
    // A fresh object each time: the library shares and mutates its default one.
    authenticatorSelection: { residentKey: 'preferred', userVerification: 'preferred' },
    supportedAlgorithmIDs: algorithms,
  });
}

/**
 * Verifies a new passkey and stores it. The first factor a person adds comes with recovery codes,
 * returned this once. Answers null when the response does not verify.
 */
export async function registerPasskey(
  db: Kysely<Database>,
  relying: Relying,
  user: User,
  input: { response: unknown; expectedChallenge: string; name: string },
  change: FactorChange,
): Promise<{ recoveryCodes: string[] | null } | null> {
  const parsed = registrationResponseSchema.safeParse(input.response);
  if (!parsed.success) return null;
  let verification: Awaited<ReturnType<typeof verifyRegistrationResponse>>;
  try {
    verification = await (await simpleWebAuthn()).verifyRegistrationResponse({
      response: parsed.data as unknown as RegistrationResponseJSON,
      expectedChallenge: input.expectedChallenge,
      expectedOrigin: relying.origin,
      expectedRPID: relying.rpId,
      requireUserVerification: false,
      supportedAlgorithmIDs: algorithms,
    });
  } catch {
    return null;
  }
  if (!verification.verified) return null;
  const { credential } = verification.registrationInfo;
  const name = input.name.normalize('NFC').trim().slice(0, 100) || 'Passkey';
  try {
    return await db.transaction().execute(async (trx) => {
      const factorId = await insertWebAuthnFactor(trx, {
        userId: user.id, name, credentialId: credential.id, publicKey: Buffer.from(credential.publicKey).toString('base64url'),
        signCount: credential.counter,
        // What the browser said the key can use: a hint for the next sign-in, nothing more.
        transports: (credential.transports ?? []).filter((transport) => /^[a-z-]{1,16}$/.test(transport)),
      });
      const recoveryCodes = (await countUnusedRecoveryCodes(trx, user.id)) === 0 ? await issueRecoveryCodes(trx, user.id) : null;
      await recordAuditEvent(trx, {
        actor: change.actor, origin: change.origin, action: 'mfa.enrol', target: { type: 'user', id: user.id }, orgUnitId: user.primary_org_unit_id,
        after: { factor_id: factorId, kind: 'webauthn', name, recovery_codes_issued: recoveryCodes !== null },
      });
      return { recoveryCodes };
    });
  } catch (error) {
    // The same authenticator registered twice (excludeCredentials is only a request to the browser).
    if (isUniqueViolation(error)) return null;
    throw error;
  }
}

/** Options for signing in with one of this person's passkeys; the caller keeps `challenge`. */
export async function passkeyAuthenticationOptions(db: Kysely<Database>, relying: Relying, userId: string): Promise<PublicKeyCredentialRequestOptionsJSON | null> {
  const passkeys = (await findConfirmedFactors(db, userId)).filter((factor) => factor.kind === 'webauthn');
  if (passkeys.length === 0) return null;
  return (await simpleWebAuthn()).generateAuthenticationOptions({
    rpID: relying.rpId,
    allowCredentials: passkeys.map((factor) => ({ id: factor.credential_id!, transports: (factor.transports ?? []) as AuthenticatorTransport[] })),
    userVerification: 'preferred',
  });
}

/**
 * Options for signing in with a passkey alone: no list of credentials, so the browser offers the
 * passkeys it holds for this site, and the person must be verified (PIN or biometrics): the key is
 * then two factors by itself.
 */
export async function passwordlessOptions(relying: Relying): Promise<PublicKeyCredentialRequestOptionsJSON> {
  return (await simpleWebAuthn()).generateAuthenticationOptions({ rpID: relying.rpId, userVerification: 'required' });
}

/** Whose passkey an assertion claims to be, before it is verified; undefined for an unknown credential. */
export async function passkeyOwner(db: Kysely<Database>, response: unknown): Promise<string | undefined> {
  const parsed = authenticationResponseSchema.safeParse(response);
  if (!parsed.success) return undefined;
  return (await findWebAuthnFactorByCredentialId(db, parsed.data.id))?.user_id;
}

/**
 * Checks a passkey assertion for this person: their own credential (the library does not compare
 * the response's id with the stored one; we look it up by that id and check its owner), the
 * challenge, origin and RP ID, the signature, and a growing counter. Answers whether it passed
 * and whether the authenticator verified its user (PIN or biometrics).
 */
export async function verifyPasskey(
  db: Kysely<Database>,
  relying: Relying,
  userId: string,
  input: { response: unknown; expectedChallenge: string },
): Promise<{ ok: false } | { ok: true; userVerified: boolean }> {
  const parsed = authenticationResponseSchema.safeParse(input.response);
  if (!parsed.success) return { ok: false };
  const factor = await findWebAuthnFactorByCredentialId(db, parsed.data.id);
  if (factor?.user_id !== userId || factor.confirmed_at === null) return { ok: false };
  let verification: Awaited<ReturnType<typeof verifyAuthenticationResponse>>;
  try {
    verification = await (await simpleWebAuthn()).verifyAuthenticationResponse({
      response: parsed.data as unknown as AuthenticationResponseJSON,
      expectedChallenge: input.expectedChallenge,
      expectedOrigin: relying.origin,
      expectedRPID: relying.rpId,
      credential: { id: factor.credential_id!, publicKey: new Uint8Array(Buffer.from(factor.public_key!, 'base64url')), counter: Number(factor.sign_count) },
      requireUserVerification: false,
    });
  } catch {
    return { ok: false };
  }
  if (!verification.verified) return { ok: false };
  // Two requests racing with the same assertion: only one moves the counter (a non-counting key stays at 0).
  if (!(await acceptWebAuthnCounter(db, factor.id, verification.authenticationInfo.newCounter))) return { ok: false };
  return { ok: true, userVerified: verification.authenticationInfo.userVerified };
}
