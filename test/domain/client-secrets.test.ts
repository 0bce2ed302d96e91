import { createHash } from 'node:crypto';

import { describe, expect, it } from 'vitest';

import { clientSecretMatches, generateClientId, generateClientSecret, hashClientSecret } from '../../src/domain/client-secrets.ts';

describe('generateClientSecret', () => {
  it('gives 43 base64url characters carrying 256 random bits', () => {
    const secret = generateClientSecret();
    expect(secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(secret, 'base64url')).toHaveLength(32);
  });

  it('never gives the same secret twice', () => {
    const secrets = new Set(Array.from({ length: 1000 }, generateClientSecret));
    expect(secrets.size).toBe(1000);
  });
});

describe('generateClientId', () => {
  it('gives unique 128-bit hex identifiers, which never start with "-" on a command line', () => {
    const ids = new Set(Array.from({ length: 1000 }, generateClientId));
    expect(ids.size).toBe(1000);
    for (const id of ids) expect(id).toMatch(/^[0-9a-f]{32}$/);
  });
});

describe('hashClientSecret', () => {
  it('is the hex SHA-256 of the secret', () => {
    const secret = generateClientSecret();
    const hash = hashClientSecret(secret);
    expect(hash).toMatch(/^[0-9a-f]{64}$/);
    expect(hash).toBe(createHash('sha256').update(secret).digest('hex'));
    expect(hash).not.toContain(secret);
  });
});

describe('clientSecretMatches', () => {
  const secret = generateClientSecret();
  const stored = hashClientSecret(secret);

  it('is true for the right secret', () => {
    expect(clientSecretMatches(stored, secret)).toBe(true);
  });

  it('is false for another secret', () => {
    expect(clientSecretMatches(stored, generateClientSecret())).toBe(false);
  });

  it('is false for the secret with one character changed', () => {
    const altered = (secret[0] === 'A' ? 'B' : 'A') + secret.slice(1);
    expect(clientSecretMatches(stored, altered)).toBe(false);
  });

  it('is false for an empty secret', () => {
    expect(clientSecretMatches(stored, '')).toBe(false);
  });

  it('is false when an attacker who read the stored hash presents it as the secret', () => {
    expect(clientSecretMatches(stored, stored)).toBe(false);
  });
});
