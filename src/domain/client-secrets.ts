import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Client secrets are 256 random bits, so a fast hash is enough: nobody can brute-force that space,
 * and a slow hash (argon2) on every token request would cap token grants near 85 per second on a
 * two-core machine. Stored as SHA-256 hex, shown to the developer once.
 */
export function generateClientSecret(): string {
  return randomBytes(32).toString('base64url');
}

export function hashClientSecret(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

export function clientSecretMatches(storedHash: string, presented: string): boolean {
  const expected = Buffer.from(storedHash, 'hex');
  const actual = createHash('sha256').update(presented, 'utf8').digest();
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}

/** Hex, so that an id never starts with "-" and reads unambiguously over the phone. */
export function generateClientId(): string {
  return randomBytes(16).toString('hex');
}
