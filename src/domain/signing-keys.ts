import { calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK } from 'jose';
import type { Kysely } from 'kysely';

import {
  deleteSigningKeys,
  insertSigningKeys,
  listSigningKeys,
  lockSigningKeysForUpdate,
} from '../db/queries/signing-keys.ts';
import type { Database, NewSigningKey, SigningAlgorithm, SigningKey } from '../db/schema.ts';
import { seal, unseal } from './sealed-box.ts';

/**
 * RS256 signs ID tokens because OpenID Connect requires every provider to support it; ES256 signs
 * JWT access tokens, smaller and far cheaper to produce than RSA.
 */
export const signingAlgorithms: readonly SigningAlgorithm[] = ['RS256', 'ES256'];

export type KeyState = 'pending' | 'signing' | 'verifying' | 'expired';

export interface KeyWithState {
  readonly kid: string;
  readonly alg: SigningAlgorithm;
  readonly state: KeyState;
  readonly activatesAt: Date;
  /** For a key that no longer signs: when it stops being published. */
  readonly publishedUntil: Date | null;
}

const sealLabel = (kid: string) => `signing-key:${kid}`;

async function generateSigningKey(masterKey: Buffer, alg: SigningAlgorithm, activatesAt: Date): Promise<NewSigningKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true, ...(alg === 'RS256' ? { modulusLength: 2048 } : {}) });
  const publicJwk = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(publicJwk);
  const privateJwk = { ...(await exportJWK(privateKey)), kid, alg, use: 'sig' };
  return {
    kid,
    alg,
    public_jwk: { ...publicJwk, kid, alg, use: 'sig' },
    private_jwk_sealed: seal(masterKey, sealLabel(kid), JSON.stringify(privateJwk)),
    activates_at: activatesAt,
  };
}

/** First start: a signing key for every algorithm, active at once. Safe when several nodes start together. */
export async function ensureSigningKeys(db: Kysely<Database>, masterKey: Buffer, now = new Date()): Promise<void> {
  await db.transaction().execute(async (trx) => {
    await lockSigningKeysForUpdate(trx);
    const present = new Set((await listSigningKeys(trx)).map((key) => key.alg));
    const missing = signingAlgorithms.filter((alg) => !present.has(alg));
    await insertSigningKeys(trx, await Promise.all(missing.map((alg) => generateSigningKey(masterKey, alg, now))));
  });
}

/**
 * Adds a new key for every algorithm. It is published at once and starts signing `publishAheadSeconds`
 * later, so that relying parties that cache JWKS have seen it before they meet a token it signed.
 * The keys it replaces stay published until every token they signed has expired.
 */
export async function rotateSigningKeys(
  db: Kysely<Database>,
  masterKey: Buffer,
  options: { publishAheadSeconds: number; now?: Date },
): Promise<SigningKey[]> {
  const activatesAt = new Date((options.now ?? new Date()).getTime() + options.publishAheadSeconds * 1000);
  const keys = await Promise.all(signingAlgorithms.map((alg) => generateSigningKey(masterKey, alg, activatesAt)));
  await db.transaction().execute(async (trx) => {
    await lockSigningKeysForUpdate(trx);
    await insertSigningKeys(trx, keys);
  });
  return (await listSigningKeys(db)).filter((key) => keys.some((added) => added.kid === key.kid));
}

/**
 * The state of every key at `now`. Per algorithm, the newest key whose activation has come signs;
 * newer ones are pending; older ones verify until `retentionSeconds` after their successor took over.
 */
export function describeKeys(keys: readonly SigningKey[], now: Date, retentionSeconds: number): KeyWithState[] {
  const described: KeyWithState[] = [];
  for (const alg of signingAlgorithms) {
    const ofAlg = keys
      .filter((key) => key.alg === alg)
      .sort((a, b) => b.activates_at.getTime() - a.activates_at.getTime() || a.kid.localeCompare(b.kid));
    let successorActivatedAt: Date | null = null;
    for (const key of ofAlg) {
      let state: KeyState;
      let publishedUntil: Date | null = null;
      if (key.activates_at > now) {
        state = 'pending';
      } else if (successorActivatedAt === null) {
        state = 'signing';
      } else {
        publishedUntil = new Date(successorActivatedAt.getTime() + retentionSeconds * 1000);
        state = publishedUntil > now ? 'verifying' : 'expired';
      }
      described.push({ kid: key.kid, alg, state, activatesAt: key.activates_at, publishedUntil });
      if (state !== 'pending') successorActivatedAt = key.activates_at;
    }
  }
  return described;
}

const stateOrder: Record<KeyState, number> = { signing: 0, pending: 1, verifying: 2, expired: 3 };

/**
 * The private JWK set for oidc-provider. Order matters: oidc-provider signs with the first key that
 * fits the algorithm, so each algorithm's signing key comes before the pending and retiring ones.
 */
export function keystoreFor(keys: readonly SigningKey[], masterKey: Buffer, now: Date, retentionSeconds: number): JWK[] {
  const byKid = new Map(keys.map((key) => [key.kid, key]));
  return describeKeys(keys, now, retentionSeconds)
    .filter((key) => key.state !== 'expired')
    .sort((a, b) => stateOrder[a.state] - stateOrder[b.state])
    .map((key) => {
      const stored = byKid.get(key.kid)!;
      return JSON.parse(unseal(masterKey, sealLabel(key.kid), stored.private_jwk_sealed)) as JWK;
    });
}

/** A fingerprint of which keys are published and which sign: when it changes, the provider reloads. */
export function keysetFingerprint(keys: readonly SigningKey[], now: Date, retentionSeconds: number): string {
  return describeKeys(keys, now, retentionSeconds)
    .filter((key) => key.state !== 'expired')
    .map((key) => `${key.kid}:${key.state === 'signing' ? 's' : 'p'}`)
    .sort()
    .join(',');
}

/** Removes keys that no longer verify anything. */
export async function pruneExpiredKeys(db: Kysely<Database>, now: Date, retentionSeconds: number): Promise<number> {
  const expired = describeKeys(await listSigningKeys(db), now, retentionSeconds).filter((key) => key.state === 'expired');
  await deleteSigningKeys(db, expired.map((key) => key.kid));
  return expired.length;
}
