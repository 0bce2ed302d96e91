import { randomBytes } from 'node:crypto';

import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { listSigningKeys } from '../../src/db/queries/signing-keys.ts';
import type { SigningKey } from '../../src/db/schema.ts';
import { UnsealError } from '../../src/domain/sealed-box.ts';
import {
  describeKeys,
  ensureSigningKeys,
  keysetFingerprint,
  keystoreFor,
  pruneExpiredKeys,
  rotateSigningKeys,
} from '../../src/domain/signing-keys.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';

const masterKey = randomBytes(32);
const hour = 3600;
const retentionSeconds = 2 * hour;
const start = new Date('2026-03-01T08:00:00.000Z');
const at = (seconds: number) => new Date(start.getTime() + seconds * 1000);

let database: TestDatabase;

beforeAll(async () => {
  database = await createTestDatabase();
});

afterAll(async () => {
  await database.close();
});

beforeEach(async () => {
  // Each test tells its own key history from an empty table.
  await database.db.deleteFrom('signing_keys').execute();
});

const stateOf = (keys: readonly SigningKey[], now: Date) =>
  Object.fromEntries(describeKeys(keys, now, retentionSeconds).map((key) => [key.kid, key.state]));

/** The first start's keys, then a rotation at `start` published one hour ahead. */
async function rotatedKeyset() {
  await ensureSigningKeys(database.db, masterKey, start);
  const original = await listSigningKeys(database.db);
  const added = await rotateSigningKeys(database.db, masterKey, { publishAheadSeconds: hour, now: start });
  return { original, added, all: await listSigningKeys(database.db) };
}

describe('ensureSigningKeys', () => {
  it('creates one RS256 and one ES256 key on first start, both signing at once', async () => {
    await ensureSigningKeys(database.db, masterKey, start);
    const keys = await listSigningKeys(database.db);
    expect(keys.map((key) => key.alg).sort()).toEqual(['ES256', 'RS256']);
    expect(describeKeys(keys, start, retentionSeconds).map((key) => key.state)).toEqual(['signing', 'signing']);
  });

  it('publishes only the public half and stores the private half sealed', async () => {
    await ensureSigningKeys(database.db, masterKey, start);
    const keys = await listSigningKeys(database.db);
    const privateJwks = keystoreFor(keys, masterKey, start, retentionSeconds);
    for (const key of keys) {
      expect(key.public_jwk).toMatchObject({ kid: key.kid, alg: key.alg, use: 'sig' });
      expect(key.public_jwk).not.toHaveProperty('d');
      const privateJwk = privateJwks.find((jwk) => jwk.kid === key.kid);
      expect(privateJwk?.d).toBeTypeOf('string');
      expect(key.private_jwk_sealed).not.toContain(privateJwk!.d!);
    }
  });

  it('leaves exactly two keys when called twice', async () => {
    await ensureSigningKeys(database.db, masterKey, start);
    const first = await listSigningKeys(database.db);
    await ensureSigningKeys(database.db, masterKey, at(60));
    const second = await listSigningKeys(database.db);
    expect(second).toHaveLength(2);
    expect(second.map((key) => key.kid).sort()).toEqual(first.map((key) => key.kid).sort());
  });

  it('leaves exactly two keys when two nodes start at the same time', async () => {
    await Promise.all([ensureSigningKeys(database.db, masterKey, start), ensureSigningKeys(database.db, masterKey, start)]);
    const keys = await listSigningKeys(database.db);
    expect(keys.map((key) => key.alg).sort()).toEqual(['ES256', 'RS256']);
  });
});

describe('rotation', () => {
  it('publishes the new keys as pending while the old ones keep signing', async () => {
    const { original, added, all } = await rotatedKeyset();
    expect(added.map((key) => key.alg).sort()).toEqual(['ES256', 'RS256']);
    expect(all).toHaveLength(4);
    const states = stateOf(all, start);
    for (const key of added) expect(states[key.kid]).toBe('pending');
    for (const key of original) expect(states[key.kid]).toBe('signing');
  });

  it('puts each algorithm\u2019s signing key first in the keystore, ahead of the pending one', async () => {
    const { original, added, all } = await rotatedKeyset();
    const keystore = keystoreFor(all, masterKey, start, retentionSeconds);
    expect(keystore.map((jwk) => jwk.kid).sort()).toEqual(all.map((key) => key.kid).sort());
    for (const alg of ['RS256', 'ES256']) {
      const ofAlg = keystore.filter((jwk) => jwk.alg === alg).map((jwk) => jwk.kid);
      expect(ofAlg).toEqual([
        original.find((key) => key.alg === alg)!.kid,
        added.find((key) => key.alg === alg)!.kid,
      ]);
    }
  });

  it('lets the new keys sign once the publish-ahead time has passed, keeping the old ones to verify', async () => {
    const { original, added, all } = await rotatedKeyset();
    const states = stateOf(all, at(hour));
    for (const key of added) expect(states[key.kid]).toBe('signing');
    for (const key of original) expect(states[key.kid]).toBe('verifying');

    const described = describeKeys(all, at(hour), retentionSeconds);
    for (const key of original) {
      expect(described.find((entry) => entry.kid === key.kid)?.publishedUntil).toEqual(at(hour + retentionSeconds));
    }
    const keystore = keystoreFor(all, masterKey, at(hour), retentionSeconds);
    for (const alg of ['RS256', 'ES256']) {
      expect(keystore.find((jwk) => jwk.alg === alg)?.kid).toBe(added.find((key) => key.alg === alg)!.kid);
    }
  });

  it('keeps the old keys verifying until the successor\u2019s activation plus retention, then expires them', async () => {
    const { original, added, all } = await rotatedKeyset();
    const oldKids = original.map((key) => key.kid);

    const justBefore = new Date(at(hour + retentionSeconds).getTime() - 1);
    for (const kid of oldKids) expect(stateOf(all, justBefore)[kid]).toBe('verifying');
    expect(keystoreFor(all, masterKey, justBefore, retentionSeconds)).toHaveLength(4);

    const retired = at(hour + retentionSeconds);
    for (const kid of oldKids) expect(stateOf(all, retired)[kid]).toBe('expired');
    const keystore = keystoreFor(all, masterKey, retired, retentionSeconds);
    expect(keystore.map((jwk) => jwk.kid).sort()).toEqual(added.map((key) => key.kid).sort());
  });

  it('removes expired keys when pruned, and only those', async () => {
    const { added } = await rotatedKeyset();
    expect(await pruneExpiredKeys(database.db, at(hour), retentionSeconds)).toBe(0);
    expect(await listSigningKeys(database.db)).toHaveLength(4);

    expect(await pruneExpiredKeys(database.db, at(hour + retentionSeconds), retentionSeconds)).toBe(2);
    const remaining = await listSigningKeys(database.db);
    expect(remaining.map((key) => key.kid).sort()).toEqual(added.map((key) => key.kid).sort());
  });

  it('changes the keyset fingerprint when a pending key activates, and not before', async () => {
    const { all } = await rotatedKeyset();
    const beforeActivation = keysetFingerprint(all, start, retentionSeconds);
    expect(keysetFingerprint(all, at(hour - 1), retentionSeconds)).toBe(beforeActivation);
    expect(keysetFingerprint(all, at(hour), retentionSeconds)).not.toBe(beforeActivation);
  });

  it('changes the keyset fingerprint when a rotation publishes new keys', async () => {
    await ensureSigningKeys(database.db, masterKey, start);
    const before = keysetFingerprint(await listSigningKeys(database.db), start, retentionSeconds);
    await rotateSigningKeys(database.db, masterKey, { publishAheadSeconds: hour, now: start });
    expect(keysetFingerprint(await listSigningKeys(database.db), start, retentionSeconds)).not.toBe(before);
  });
});

describe('keystoreFor with the wrong master key', () => {
  it('refuses to open the private keys', async () => {
    await ensureSigningKeys(database.db, masterKey, start);
    const keys = await listSigningKeys(database.db);
    expect(() => keystoreFor(keys, randomBytes(32), start, retentionSeconds)).toThrow(UnsealError);
  });

  it('refuses a sealed key copied onto another key\u2019s row', async () => {
    await ensureSigningKeys(database.db, masterKey, start);
    const [first, second] = await listSigningKeys(database.db);
    const swapped = [{ ...first!, private_jwk_sealed: second!.private_jwk_sealed }, second!];
    expect(() => keystoreFor(swapped, masterKey, start, retentionSeconds)).toThrow(UnsealError);
  });
});
